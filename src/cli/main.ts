import { Command, CommanderError } from 'commander';

/**
 * Each subcommand lives in its own module that exports `command(): Command`. Modules load only when their
 * subcommand runs, so `tracejob collapse` does not pay for the Kubernetes client's import time.
 */
interface Subcommand {
  summary: string;
  load: () => Promise<{ command: () => Command }>;
}

const subcommands: Record<string, Subcommand> = {
  operator: {
    summary: 'run the TraceJob controller (in cluster, or against --kubeconfig)',
    load: () => import('./operator.ts'),
  },
  runner: {
    summary: 'run the plan of a tracer pod (the entrypoint of the tracer image; reads TRACEJOB_PLAN)',
    load: () => import('./runner.ts'),
  },
  trace: {
    summary: 'trace a process or container on this machine, no cluster needed',
    load: () => import('./trace.ts'),
  },
  resolve: {
    summary: 'print the host PIDs of a container, found from its pod UID and container ID',
    load: () => import('./resolve.ts'),
  },
  collapse: {
    summary: 'fold perf/bpftrace/gdb stacks into the folded format flamegraph.pl reads',
    load: () => import('./collapse.ts'),
  },
  flamegraph: {
    summary: 'draw an interactive SVG flame graph from folded stacks',
    load: () => import('./flamegraph.ts'),
  },
  diff: { summary: 'draw a differential flame graph of two folded profiles', load: () => import('./diff.ts') },
  convert: {
    summary: 'convert folded stacks to speedscope JSON, pprof or a top-frames summary',
    load: () => import('./convert.ts'),
  },
  devcluster: {
    summary: 'run a development cluster: a stand-in API server and a kubelet that runs real containers',
    load: () => import('./devcluster.ts'),
  },
};

function topLevelHelp(): Command {
  const program = new Command('tracejob')
    .description('On-demand tracing for Kubernetes: TraceJobs run Linux tracers against pods and store the results.')
    .usage('<command> [options]')
    .addHelpText('after', '\nRun `tracejob <command> --help` for the options of a command.');
  for (const [name, { summary }] of Object.entries(subcommands)) program.command(name).description(summary);
  return program;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const sub = name === undefined ? undefined : subcommands[name];
  if (!sub) {
    const help = topLevelHelp();
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      help.outputHelp();
      return 0;
    }
    console.error(`tracejob: unknown command '${name}'. Commands: ${Object.keys(subcommands).join(', ')}.`);
    return 2;
  }
  const command = (await sub.load()).command();
  // Usage lines then read `tracejob collapse perf ...`, the way the user typed it.
  command.name(`tracejob ${name}`);
  command.exitOverride();
  try {
    await command.parseAsync(rest, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    throw err;
  }
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}

// `tracejob flamegraph ... | head` closes our stdout early; that is the reader's choice, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`tracejob: ${err instanceof Error ? err.message : String(err)}`);
    if (process.env.TRACEJOB_DEBUG && err instanceof Error) console.error(err.stack);
    process.exitCode = 1;
  },
);

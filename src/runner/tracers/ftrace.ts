import { mkdir, readFile, rmdir, stat, writeFile } from 'node:fs/promises';
import { RunnerError } from '../errors.ts';
import { join } from 'node:path';
import type { FtraceOptions } from '../../api/tracejob.ts';
import { supervise } from '../supervise.ts';
import { checkRun } from './outcome.ts';
import type { TracerAdapter, TracerContext, TracerOutcome } from './types.ts';

function traceCmdRecordArgv(options: FtraceOptions, pids: number[], dataPath: string): string[] {
  const argv = ['record', '-q', '-p', options.tracer, '-o', dataPath];
  // -P sets set_ftrace_pid (and set_event_pid); -c follows the threads and children they create.
  for (const pid of pids) argv.push('-P', String(pid));
  argv.push('-c');
  const filterFlag = options.tracer === 'function_graph' ? '-g' : '-l';
  for (const fn of options.functions ?? []) argv.push(filterFlag, fn);
  // The per-CPU ring buffer bounds memory in the kernel; the data file is bounded by the stop condition below.
  argv.push('-b', '4096');
  return argv;
}

/** Kernel function (graph) tracing of the targets' PIDs with trace-cmd, rendered to text by trace-cmd report. */
export function ftrace(options: FtraceOptions): TracerAdapter {
  return {
    name: 'ftrace',
    requirements: () => ({
      binaries: [{ name: 'trace-cmd', package: 'trace-cmd' }],
      tracefs: true,
      kernelSymbols: true,
    }),
    async run(ctx: TracerContext): Promise<TracerOutcome> {
      if (ctx.tracefs) await probeTracer(ctx.tracefs, options.tracer);
      const traceCmd = ctx.binaries['trace-cmd']!;
      const dataPath = join(ctx.workDir, 'trace.dat');
      const reportPath = join(ctx.workDir, 'ftrace.txt');
      let dataBytes = 0;
      const sizer = setInterval(() => {
        void stat(dataPath).then(
          (s) => (dataBytes = s.size),
          () => undefined,
        );
      }, 250);
      let recorded;
      try {
        recorded = await supervise({
          argv: [
            traceCmd,
            ...traceCmdRecordArgv(
              options,
              ctx.processes.map((p) => p.pid),
              dataPath,
            ),
          ],
          durationMs: ctx.durationMs,
          graceMs: ctx.graceMs,
          cwd: ctx.workDir,
          stdoutPath: join(ctx.workDir, 'trace-cmd-record.log'),
          maxStdoutBytes: 1 << 20,
          stderrPath: join(ctx.workDir, 'trace-cmd-record.err'),
          maxStderrBytes: 1 << 20,
          // The binary data is several times smaller than its text report; stop at the text cap's worth.
          stopWhen: () => dataBytes > options.maxOutputBytes,
          signal: ctx.signal,
        });
      } finally {
        clearInterval(sizer);
      }
      const notes = checkRun('trace-cmd record', recorded);
      const report = await supervise({
        argv: [traceCmd, 'report', '-i', dataPath],
        durationMs: Math.max(60_000, ctx.durationMs),
        graceMs: 5000,
        cwd: ctx.workDir,
        stdoutPath: reportPath,
        maxStdoutBytes: options.maxOutputBytes,
        stderrPath: join(ctx.workDir, 'trace-cmd-report.log'),
        maxStderrBytes: 1 << 20,
        // Not cancelled with the trace: a stopped trace (pod deleted) still gets its stacks symbolized.
      });
      notes.push(...checkRun('trace-cmd report', report));
      return {
        files: [{ name: 'ftrace.txt', path: reportPath, format: 'raw' }],
        notes,
        stoppedBy: recorded.stoppedBy,
      };
    },
  };
}

/**
 * Whether the kernel lets this tracer run, tried in a private tracefs instance so that the global buffer (which other
 * tools may be using) is untouched. Kernels may list a tracer and still refuse it (lockdown, a hypervisor that
 * forbids text patching), which trace-cmd reports only as "Can't enable ftrace".
 */
async function probeTracer(tracefs: string, tracer: string): Promise<void> {
  const available = (await readFile(join(tracefs, 'available_tracers'), 'utf8').catch(() => '')).trim().split(/\s+/);
  if (!available.includes(tracer)) {
    throw new RunnerError(
      'KernelUnsupported',
      `this kernel does not offer the ${tracer} tracer (available: ${available.join(', ') || 'none'}); it needs ` +
        `CONFIG_${tracer === 'function' ? 'FUNCTION_TRACER' : 'FUNCTION_GRAPH_TRACER'}`,
    );
  }
  const instance = join(tracefs, 'instances', `tracejob-probe-${process.pid}`);
  await mkdir(instance);
  try {
    await writeFile(join(instance, 'current_tracer'), tracer);
    await writeFile(join(instance, 'current_tracer'), 'nop');
  } catch (err) {
    throw new RunnerError(
      'KernelUnsupported',
      `the kernel lists the ${tracer} tracer but refuses to enable it (${(err as NodeJS.ErrnoException).code}): ` +
        'function tracing is locked down or disabled on this node',
      { cause: err },
    );
  } finally {
    await rmdir(instance).catch(() => undefined);
  }
}

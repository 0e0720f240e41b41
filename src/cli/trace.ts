import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import type { z } from 'zod';
import { formatIssues } from '../api/errors.ts';
import {
  MAX_DURATION_SECONDS,
  MIN_DURATION_SECONDS,
  OUTPUT_FORMATS,
  TRACER_TYPES,
  ProcessFilterSchema,
  TracerSpecSchema,
  acceptedOutputs,
  parseDuration,
  type OutputFormat,
} from '../api/tracejob.ts';
import { createLogger } from '../log.ts';
import { runTrace, type TraceTarget } from '../runner/run.ts';
import { stopAllTracers } from '../runner/supervise.ts';

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function processFilterOptions(cmd: Command): Command {
  return cmd
    .option('--process-pid <pid>', 'only the process with this in-container PID')
    .option('--comm <name>', 'only processes with this exact comm')
    .option('--exe <path>', 'only processes running this executable (path inside the container)')
    .option('--cmdline <regex>', 'only processes whose command line (arguments joined by spaces) matches');
}

/** Parses with a zod schema and reports failures as `field: message` lines naming the command-line input. */
export function validated<T extends z.ZodType>(schema: T, value: unknown, field: string): z.output<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const errors = formatIssues(parsed.error.issues, schema);
  throw new Error(errors.map((e) => `${field}${e.field === '.' ? '' : `.${e.field}`}: ${e.message}`).join('; '));
}

export function command(): Command {
  const cmd = new Command('trace')
    .description(
      'Trace a process, or a container found by pod UID and container ID, on this machine for a bounded time, and ' +
        'write the raw output, flame graphs/reports and manifest.json into --out.',
    )
    .option('--pid <pid>', 'host PID to trace')
    .option('--pod-uid <uid>', 'pod UID of the container to trace (with --container-id)')
    .option('--container-id <runtime://id>', 'containerd://, cri-o:// or docker:// container ID')
    .addOption(new Option('--tracer <type>', 'tracer').choices([...TRACER_TYPES]).makeOptionMandatory())
    .option('--duration <duration>', 'how long to trace (1s..1h)', '10s')
    .requiredOption('--out <dir>', 'directory for the artifacts and manifest.json')
    .option('--outputs <list>', `comma-separated: ${OUTPUT_FORMATS.join(', ')} (default depends on the tracer)`)
    .option('--frequency <hz>', 'profile/perf: sampling frequency (default 99)')
    .addOption(new Option('--engine <engine>', 'profile: engine').choices(['auto', 'perf', 'bpftrace']))
    .option('--no-kernel-stacks', 'profile/perf: leave kernel frames out')
    .option('--mode <mode>', 'perf: record|stat; strace: summary|full')
    .addOption(new Option('--call-graph <kind>', 'perf record: unwinding').choices(['fp', 'dwarf']))
    .option('--event <event>', 'perf: event (repeatable)', collect)
    .option('--program <text>', 'bpftrace: program text ($1 first PID, $2 cgroup id, $3 PID count)')
    .option('--program-file <file>', 'bpftrace: read the program from a file')
    .option('--script <name>', 'bpftrace: a script shipped with bpftrace, by name')
    .option('--tool <name>', 'tool: libbpf-tools program name')
    .option('--tool-arg <arg>', 'tool: an allow-listed option (repeatable)', collect)
    .option('--syscall <name>', 'strace: only this system call or %class (repeatable)', collect)
    .option('--max-output-bytes <n>', 'strace full / ftrace: output cap')
    .addOption(new Option('--ftrace-tracer <kind>', 'ftrace: tracer').choices(['function', 'function_graph']))
    .option('--function <name>', 'ftrace: kernel function or glob (repeatable)', collect)
    .option('--samples <n>', 'gdb: number of backtrace samples')
    .option('--interval <duration>', 'gdb: time between samples')
    .option('--grace <duration>', 'time between SIGINT and SIGKILL at the end', '10s');
  processFilterOptions(cmd);
  return cmd.action(async (opts: Record<string, unknown>) => {
    const target = targetFrom(opts);
    const tracer = validated(TracerSpecSchema, tracerSpecFrom(opts), 'tracer');
    const durationSeconds = durationFrom(String(opts.duration), 'duration', MIN_DURATION_SECONDS, MAX_DURATION_SECONDS);
    const outputs = outputsFrom(opts.outputs as string | undefined, tracer);
    const process = processFilter(opts as Record<string, string | undefined>);
    const out = resolvePath(String(opts.out));
    const controller = new AbortController();
    const onSignal = () => controller.abort();
    globalThis.process.once('SIGINT', onSignal);
    globalThis.process.once('SIGTERM', onSignal);
    try {
      const manifest = await runTrace(
        {
          targets: [target],
          tracer,
          ...(process ? { process } : {}),
          durationSeconds,
          ...(outputs ? { outputs } : {}),
        },
        {
          workDir: out,
          graceMs: durationFrom(String(opts.grace), 'grace', 0, 600) * 1000,
          signal: controller.signal,
          logger: createLogger({ level: globalThis.process.env.TRACEJOB_LOG_LEVEL ?? 'warn' }),
        },
      );
      for (const a of manifest.artifacts)
        console.log(`${a.format}\t${a.sizeBytes}\t${a.uri.replace(/^file:\/\//, '')}`);
      console.log(`manifest\t${out}/manifest.json`);
      if (manifest.summary?.topFrames?.length) {
        console.log(`top frames of ${manifest.summary.samples} samples (self%, total%):`);
        for (const f of manifest.summary.topFrames.slice(0, 5)) {
          console.log(
            `  ${(f.self * 100).toFixed(1).padStart(5)} ${(f.total * 100).toFixed(1).padStart(5)}  ${f.frame}`,
          );
        }
      }
      const message = manifest.message ?? manifest.targets.find((t) => t.message)?.message;
      if (manifest.state === 'Failed') {
        console.error(`tracejob trace: ${manifest.reason}: ${message ?? 'failed'}`);
        globalThis.process.exitCode = 1;
      } else if (message) console.error(`tracejob trace: note: ${message}`);
    } finally {
      globalThis.process.off('SIGINT', onSignal);
      globalThis.process.off('SIGTERM', onSignal);
      await stopAllTracers();
    }
  });
}

function targetFrom(opts: Record<string, unknown>): TraceTarget {
  const byContainer = opts.podUid !== undefined || opts.containerId !== undefined;
  if ((opts.pid !== undefined) === byContainer) {
    throw new Error('target: give either --pid PID or both --pod-uid UID and --container-id RUNTIME://ID');
  }
  if (opts.pid !== undefined) {
    const pid = Number(opts.pid);
    if (!Number.isInteger(pid) || pid < 1)
      throw new Error(`--pid: ${JSON.stringify(opts.pid)} is not a PID; accepted: a positive integer`);
    return { kind: 'pid', pid };
  }
  if (opts.podUid === undefined || opts.containerId === undefined) {
    throw new Error('target: --pod-uid and --container-id go together');
  }
  return {
    kind: 'container',
    namespace: 'local',
    pod: 'local',
    podUID: String(opts.podUid),
    container: 'local',
    containerID: String(opts.containerId),
  };
}

function tracerSpecFrom(opts: Record<string, unknown>): unknown {
  const type = String(opts.tracer);
  const num = (v: unknown) => (v === undefined ? undefined : Number(v));
  const defined = (o: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  const kernelStacks = opts.kernelStacks === false ? false : undefined;
  switch (type) {
    case 'profile':
      return { type, profile: defined({ frequency: num(opts.frequency), engine: opts.engine, kernelStacks }) };
    case 'perf':
      return {
        type,
        perf: defined({
          mode: opts.mode,
          frequency: num(opts.frequency),
          callGraph: opts.callGraph,
          events: opts.event,
          kernelStacks,
        }),
      };
    case 'bpftrace': {
      const program =
        opts.programFile !== undefined
          ? readFileSync(String(opts.programFile), 'utf8')
          : (opts.program as string | undefined);
      return { type, bpftrace: defined({ program, script: opts.script }) };
    }
    case 'tool':
      return { type, tool: defined({ name: opts.tool, args: opts.toolArg }) };
    case 'strace':
      return {
        type,
        strace: defined({ mode: opts.mode, syscalls: opts.syscall, maxOutputBytes: num(opts.maxOutputBytes) }),
      };
    case 'ftrace':
      return {
        type,
        ftrace: defined({
          tracer: opts.ftraceTracer,
          functions: opts.function,
          maxOutputBytes: num(opts.maxOutputBytes),
        }),
      };
    case 'gdb':
      return { type, gdb: defined({ samples: num(opts.samples), interval: opts.interval }) };
    default:
      return { type };
  }
}

function durationFrom(value: string, field: string, min: number, max: number): number {
  let seconds: number;
  try {
    seconds = parseDuration(value);
  } catch (err) {
    throw new Error(`--${field}: ${(err as Error).message}`, { cause: err });
  }
  if (seconds < min || seconds > max)
    throw new Error(`--${field}: ${value} is out of range; accepted: ${min}s..${max}s`);
  return seconds;
}

function outputsFrom(list: string | undefined, tracer: z.output<typeof TracerSpecSchema>): OutputFormat[] | undefined {
  if (list === undefined) return undefined;
  const accepted = acceptedOutputs(tracer);
  const outputs = list.split(',').map((s) => s.trim());
  for (const o of outputs) {
    if (!accepted.includes(o as OutputFormat)) {
      throw new Error(
        `--outputs: ${JSON.stringify(o)} is not accepted for ${tracer.type}; accepted: ${accepted.join(', ')}`,
      );
    }
  }
  return outputs as OutputFormat[];
}

export function processFilter(opts: Record<string, string | undefined>) {
  const raw = {
    ...(opts.processPid !== undefined ? { pid: Number(opts.processPid) } : {}),
    ...(opts.comm !== undefined ? { comm: opts.comm } : {}),
    ...(opts.exe !== undefined ? { exe: opts.exe } : {}),
    ...(opts.cmdline !== undefined ? { cmdline: opts.cmdline } : {}),
  };
  return Object.keys(raw).length === 0 ? undefined : validated(ProcessFilterSchema, raw, 'process');
}

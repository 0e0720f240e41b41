import { writeFile } from 'node:fs/promises';
import { findBinary } from '../prereq.ts';
import { RunnerError } from '../errors.ts';
import { join } from 'node:path';
import type { BpftraceOptions, ProfileOptions } from '../../api/tracejob.ts';
import { supervise } from '../supervise.ts';
import { checkRun } from './outcome.ts';
import type { TracerAdapter, TracerContext, TracerOutcome } from './types.ts';

const bpftracePackage = { name: 'bpftrace', package: 'bpftrace' };

/** Above this many PIDs the predicate would be long; the container's cgroup is used instead when it has one. */
const maxPidPredicate = 64;

/**
 * The predicate that confines a probe to the targets: the container's v2 cgroup (which also covers processes started
 * during the trace) when the whole container is traced, otherwise the selected PIDs. Built only from numbers.
 */
function targetPredicate(ctx: Pick<TracerContext, 'processes' | 'cgroupId'>, wholeContainer: boolean): string {
  if (ctx.cgroupId !== undefined && (wholeContainer || ctx.processes.length > maxPidPredicate)) {
    return `cgroup == ${ctx.cgroupId}`;
  }
  return ctx.processes
    .slice(0, maxPidPredicate)
    .map((p) => `pid == ${p.pid}`)
    .join(' || ');
}

/** In-kernel aggregated CPU profile: bpftrace profile:hz counting stacks in a map, printed once at the end. */
function bpftraceProfileProgram(options: ProfileOptions, predicate: string): string {
  const key = options.kernelStacks ? 'kstack, ustack, comm' : 'ustack, comm';
  return `profile:hz:${options.frequency} /${predicate}/ { @[${key}] = count(); }\n`;
}

export function bpftraceProfile(options: ProfileOptions, wholeContainer: boolean): TracerAdapter {
  return {
    name: 'bpftrace profile',
    requirements: () => ({
      binaries: [bpftracePackage],
      perfEvents: true,
      privileges: ['bpf'],
      kernelSymbols: options.kernelStacks,
    }),
    async run(ctx: TracerContext): Promise<TracerOutcome> {
      const program = bpftraceProfileProgram(options, targetPredicate(ctx, wholeContainer));
      return runBpftrace(ctx, program, [], 'bpftrace profile', true);
    },
  };
}

/**
 * A user's program, or a script shipped with bpftrace. The program sees its targets as positional parameters:
 *   $1  host PID of the first target process
 *   $2  v2 cgroup id of the container (compare with the `cgroup` builtin), 0 when it has none
 *   $3  number of target processes
 * bpftrace is stopped with SIGINT at the deadline, so END probes run and maps are printed.
 */
export function bpftraceProgram(options: BpftraceOptions): TracerAdapter {
  return {
    name: 'bpftrace',
    requirements: () => ({
      binaries: [bpftracePackage],
      perfEvents: true,
      privileges: ['bpf'],
      btf: true,
      kernelSymbols: true,
    }),
    async run(ctx: TracerContext): Promise<TracerOutcome> {
      let programPath: string;
      if (options.program !== undefined) {
        programPath = join(ctx.workDir, 'program.bt');
        await writeFile(programPath, options.program, { mode: 0o600 });
      } else if (options.script !== undefined) {
        const found = await findBinary(`${options.script}.bt`);
        if (!found) {
          throw new RunnerError(
            'TracerMissing',
            `the bpftrace script ${options.script}.bt is not installed (package bpftrace)`,
          );
        }
        programPath = found;
      } else {
        throw new Error('tracer.bpftrace: program or script is required');
      }
      const params = [String(ctx.processes[0]!.pid), String(ctx.cgroupId ?? 0), String(ctx.processes.length)];
      return runBpftrace(ctx, undefined, [programPath, ...params], 'bpftrace', false);
    },
  };
}

async function runBpftrace(
  ctx: TracerContext,
  inline: string | undefined,
  args: string[],
  name: string,
  stacks: boolean,
): Promise<TracerOutcome> {
  const outputPath = join(ctx.workDir, 'bpftrace.txt');
  const argv = [ctx.binaries.bpftrace!];
  if (inline !== undefined) {
    const programPath = join(ctx.workDir, 'program.bt');
    await writeFile(programPath, inline, { mode: 0o600 });
    argv.push(programPath);
  }
  argv.push(...args);
  const result = await supervise({
    argv,
    durationMs: ctx.durationMs,
    graceMs: ctx.graceMs,
    cwd: ctx.workDir,
    stdoutPath: outputPath,
    maxStdoutBytes: 64 << 20,
    stderrPath: join(ctx.workDir, 'bpftrace.log'),
    maxStderrBytes: 1 << 20,
    // bpftrace compiles and attaches before it prints this; under load that can take seconds of the duration.
    readyPattern: /^Attaching \d+ probes?\.\.\./m,
    // That line comes before the probes are attached, and a SIGINT during the attach is lost (see supervise).
    repeatInterruptMs: 1000,
    // Stacks are symbolized when the map is printed: stop while the targets still exist.
    watchPids: stacks ? ctx.processes.map((p) => p.pid) : undefined,
    env: { ...process.env, BPFTRACE_MAP_KEYS_MAX: '65536' },
    signal: ctx.signal,
  });
  const notes = checkRun(name, result);
  return {
    files: [{ name: 'bpftrace.txt', path: outputPath, format: 'raw' }],
    ...(stacks ? { stacks: { format: 'bpftrace' as const, path: outputPath } } : {}),
    notes,
    stoppedBy: result.stoppedBy,
  };
}

import { appendFile, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { GdbOptions } from '../../api/tracejob.ts';
import { parseDuration } from '../../api/tracejob.ts';
import { supervise, type StopReason } from '../supervise.ts';
import { checkRun } from './outcome.ts';
import type { TracerAdapter, TracerContext, TracerOutcome } from './types.ts';

/** gdb attaches to one process at a time; beyond this many targets, only the first ones are sampled. */
const maxProcesses = 8;

/**
 * gdb finds a process's files by the paths it sees inside its container, which it can only follow by entering the
 * container's mount namespace (CAP_SYS_ADMIN, which a ptrace-only tracer pod lacks). /proc/PID/exe and /proc/PID/root
 * reach the same files with ptrace access alone.
 */
function gdbArgv(pid: number): string[] {
  return [
    '-batch',
    '-nx',
    '-iex',
    `set sysroot /proc/${pid}/root`,
    '-ex',
    'set pagination off',
    '-ex',
    'set print thread-events off',
    '-ex',
    'thread apply all bt',
    `/proc/${pid}/exe`,
    String(pid),
  ];
}

/**
 * All threads' backtraces, once or sampled `samples` times `interval` apart (the poor man's profiler), within the
 * duration. Each sample attaches, prints and detaches, so the target runs between samples.
 */
export function gdb(options: GdbOptions): TracerAdapter {
  return {
    name: 'gdb',
    requirements: () => ({ binaries: [{ name: 'gdb', package: 'gdb' }], privileges: ['ptrace'] }),
    async run(ctx: TracerContext): Promise<TracerOutcome> {
      const outputPath = join(ctx.workDir, 'gdb.txt');
      const samplePath = join(ctx.workDir, 'gdb-sample.txt');
      await rm(outputPath, { force: true });
      const intervalMs = parseDuration(options.interval) * 1000;
      const deadline = Date.now() + ctx.durationMs;
      const notes: string[] = [];
      const processes = ctx.processes.slice(0, maxProcesses);
      if (ctx.processes.length > maxProcesses) {
        notes.push(
          `gdb sampled the first ${maxProcesses} of ${ctx.processes.length} processes; narrow with a process filter`,
        );
      }
      let taken = 0;
      let stoppedBy: StopReason = 'exited';
      const alive = new Set(processes.map((p) => p.pid));
      for (let sample = 0; sample < options.samples; sample++) {
        if (ctx.signal?.aborted) {
          stoppedBy = 'aborted';
          break;
        }
        if (sample > 0 && Date.now() + intervalMs > deadline) {
          stoppedBy = 'deadline';
          break;
        }
        if (sample > 0) await new Promise((resolve) => setTimeout(resolve, intervalMs));
        for (const pid of [...alive]) {
          const result = await supervise({
            argv: [ctx.binaries.gdb!, ...gdbArgv(pid)],
            durationMs: Math.max(5000, deadline - Date.now()),
            graceMs: 2000,
            cwd: ctx.workDir,
            stdoutPath: samplePath,
            maxStdoutBytes: 8 << 20,
            signal: ctx.signal,
          });
          const text = await readFile(samplePath, 'utf8');
          if (!/^Thread /m.test(text) && !/^#0 /m.test(text)) {
            alive.delete(pid);
            notes.push(
              `gdb could not attach to PID ${pid}: ${result.stderrTail.trim().split('\n').at(-1) ?? 'no output'}`,
            );
            continue;
          }
          checkRun('gdb', result, { allowExitCodes: [1] });
          await appendFile(outputPath, text);
          taken++;
        }
        if (alive.size === 0) break;
      }
      await rm(samplePath, { force: true });
      if (taken === 0) notes.push('no backtrace was taken');
      return {
        files: [{ name: 'gdb.txt', path: outputPath, format: 'raw' }],
        stacks: { format: 'gdb', path: outputPath },
        notes,
        stoppedBy,
      };
    },
  };
}

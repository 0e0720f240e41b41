import { statSync } from 'node:fs';
import { truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { StraceOptions } from '../../api/tracejob.ts';
import { supervise } from '../supervise.ts';
import { checkRun } from './outcome.ts';
import type { OutputFile, TracerAdapter, TracerContext, TracerOutcome } from './types.ts';

function straceArgv(options: StraceOptions, pids: number[], summaryPath: string, tracePath: string): string[] {
  const argv = ['-f', '-qq'];
  for (const pid of pids) argv.push('-p', String(pid));
  if (options.syscalls?.length) argv.push('-e', `trace=${options.syscalls.join(',')}`);
  if (options.mode === 'summary') {
    // -c prints the table at detach, to -o.
    argv.push('-c', '-S', 'time', '-U', 'name,calls,errors,time-percent,total-time,avg-time', '-o', summaryPath);
  } else {
    argv.push('-tt', '-T', '-yy', '-s', '256', '-o', tracePath);
  }
  return argv;
}

/** System calls of the targets: a summary table (strace -c) or every call with timings, capped in size. */
export function strace(options: StraceOptions): TracerAdapter {
  return {
    name: 'strace',
    requirements: () => ({ binaries: [{ name: 'strace', package: 'strace' }], privileges: ['ptrace'] }),
    async run(ctx: TracerContext): Promise<TracerOutcome> {
      const summaryPath = join(ctx.workDir, 'strace-summary.txt');
      const tracePath = join(ctx.workDir, 'strace.txt');
      const result = await supervise({
        argv: [
          ctx.binaries.strace!,
          ...straceArgv(
            options,
            ctx.processes.map((p) => p.pid),
            summaryPath,
            tracePath,
          ),
        ],
        durationMs: ctx.durationMs,
        graceMs: ctx.graceMs,
        cwd: ctx.workDir,
        // strace writes the file itself; past the cap it is stopped and the file cut back to the cap.
        stopWhen: () => options.mode === 'full' && fileSize(tracePath) > options.maxOutputBytes,
        stderrPath: join(ctx.workDir, 'strace.log'),
        maxStderrBytes: 1 << 20,
        signal: ctx.signal,
      });
      const notes = checkRun('strace', result);
      if (options.mode === 'full' && fileSize(tracePath) > options.maxOutputBytes) {
        await truncate(tracePath, options.maxOutputBytes);
        notes.push(`strace output reached maxOutputBytes (${options.maxOutputBytes}) and was truncated`);
      }
      const files: OutputFile[] =
        options.mode === 'summary'
          ? [{ name: 'strace-summary.txt', path: summaryPath, format: 'summary' }]
          : [{ name: 'strace.txt', path: tracePath, format: 'raw' }];
      return { files, notes, stoppedBy: result.stoppedBy };
    },
  };
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

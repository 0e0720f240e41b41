import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const fixtures = new URL('../fixtures/runner/', import.meta.url).pathname;

/** Compiles the C workloads into a temporary directory with frame pointers, so user stacks unwind to main. */
export async function buildWorkloads(): Promise<{
  dir: string;
  hot: string;
  sleeper: string;
  cleanup: () => Promise<void>;
}> {
  const dir = await mkdtemp(join(tmpdir(), 'tracejob-workloads-'));
  const build = (name: string) =>
    promisify(execFile)('cc', [
      '-O1',
      '-g',
      '-fno-omit-frame-pointer',
      '-o',
      join(dir, name),
      join(fixtures, `${name}.c`),
    ]);
  await Promise.all([build('hot'), build('sleeper')]);
  return {
    dir,
    hot: join(dir, 'hot'),
    sleeper: join(dir, 'sleeper'),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export const hotJs = join(fixtures, 'hot.js');

/** Starts a workload and gives a function that stops it; tests call it in `finally`. */
export function start(argv: string[]): { child: ChildProcess; pid: number; stop: () => Promise<void> } {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

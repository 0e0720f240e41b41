import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
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

/**
 * Runs `binary` from a tmpfs of a private mount and PID namespace, so that only its own mount namespace can see the
 * file: the situation of a container's binary seen from a tracer pod. Gives the host PID of the running workload.
 */
export async function startHidden(
  binary: string,
  args: string[] = [],
): Promise<{ pid: number; stop: () => Promise<void> }> {
  const name = binary.split('/').pop()!;
  const container = start([
    'unshare',
    '--mount',
    '--pid',
    '--fork',
    '--kill-child',
    '--propagation',
    'private',
    'sh',
    '-c',
    `mount -t tmpfs tracejob-test /mnt && cp "$1" /mnt/${name} && shift && exec /mnt/${name} "$@"`,
    'sh',
    binary,
    ...args,
  ]);
  for (let i = 0; i < 100; i++) {
    const children = await run('pgrep', ['-P', String(container.pid)]).catch(() => ({ stdout: '' }));
    const candidate = Number(children.stdout.trim().split('\n')[0]);
    if (candidate > 0 && (await readFile(`/proc/${candidate}/comm`, 'utf8').catch(() => '')) === `${name}\n`) {
      return { pid: candidate, stop: container.stop };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await container.stop();
  throw new Error(`the hidden workload ${name} did not start`);
}

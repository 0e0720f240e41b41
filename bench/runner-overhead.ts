/**
 * Overhead of tracing on the traced program, and the runner's own cost.
 *
 * 1. Throughput of a CPU-bound C program (test/fixtures/runner/hot.c) without tracing and while `tracejob trace`
 *    profiles it at 99 Hz with perf and with bpftrace, in interleaved repetitions so that drift in the machine's load
 *    hits every variant alike. The workload is pinned to the last CPU, the tracer to the others, so that what is
 *    measured is the cost inside the traced program (sampling interrupts, stack walks), not the tracer competing for
 *    its CPU. Reported per wall second and per CPU second of the workload; the latter is what other load on a shared
 *    machine disturbs least.
 * 2. CPU seconds and peak RSS of `tracejob trace` (runner plus tracer processes) for a 30-second profile.
 *
 * Usage: node bench/runner-overhead.ts [--reps 5] [--seconds 6] [--profile-seconds 30]
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '6' },
    'profile-seconds': { type: 'string', default: '30' },
  },
});
const reps = Number(values.reps);
const seconds = Number(values.seconds);
const profileSeconds = Number(values['profile-seconds']);
const cli = new URL('../bin/tracejob.js', import.meta.url).pathname;
const dir = await mkdtemp(join(tmpdir(), 'tracejob-runner-bench-'));
const hot = join(dir, 'hot');
await run('cc', [
  '-O1',
  '-g',
  '-fno-omit-frame-pointer',
  '-o',
  hot,
  new URL('../test/fixtures/runner/hot.c', import.meta.url).pathname,
]);
const cpu = String((await import('node:os')).cpus().length - 1);

type Variant = 'none' | 'perf' | 'bpftrace';

/** Rounds per wall second and per CPU second of the workload over `seconds`, traced by `variant` for the whole run. */
async function throughput(variant: Variant, n: number): Promise<{ wall: number; cpu: number }> {
  const workload = spawn('taskset', ['-c', cpu, hot, String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  workload.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const done = new Promise<void>((resolve) => workload.once('exit', () => resolve()));
  let tracer: Promise<unknown> = Promise.resolve();
  if (variant !== 'none') {
    tracer = run('taskset', [
      '-c',
      `0-${Number(cpu) - 1}`,
      process.execPath,
      cli,
      'trace',
      '--pid',
      String(workload.pid),
      '--tracer',
      'profile',
      '--engine',
      variant,
      '--frequency',
      '99',
      '--duration',
      `${seconds + 5}s`,
      '--out',
      join(dir, `${variant}-${n}`),
    ]);
  }
  await done;
  await tracer;
  const [rounds, cpuSeconds] = output.trim().split(' ').map(Number) as [number, number];
  return { wall: rounds / seconds, cpu: rounds / cpuSeconds };
}

const results: Record<Variant, { wall: number; cpu: number }[]> = { none: [], perf: [], bpftrace: [] };
const order: Variant[] = ['none', 'perf', 'none', 'bpftrace'];
for (let r = 0; r < reps; r++) {
  for (const variant of order) results[variant].push(await throughput(variant, r));
  console.error(`repetition ${r + 1}/${reps} done`);
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
console.log(`throughput of hot.c pinned to CPU ${cpu}, ${reps}x${seconds}s per variant, interleaved:`);
for (const metric of ['wall', 'cpu'] as const) {
  const base = mean(results.none.map((r) => r[metric]));
  console.log(`  rounds per ${metric === 'wall' ? 'wall' : 'CPU'} second of the workload`);
  for (const variant of ['none', 'perf', 'bpftrace'] as const) {
    const xs = results[variant].map((r) => r[metric]);
    const m = mean(xs);
    const overhead = variant === 'none' ? '' : `  overhead ${(((base - m) / base) * 100).toFixed(2)}%`;
    console.log(`    ${variant.padEnd(9)} ${m.toFixed(1)} ± ${sd(xs).toFixed(1)} (n=${xs.length})${overhead}`);
  }
}

if (existsSync('/usr/bin/time')) {
  for (const engine of ['perf', 'bpftrace'] as const) {
    const workload = spawn('taskset', ['-c', cpu, hot, String(profileSeconds + 10)], { stdio: 'ignore' });
    const { stderr } = await run('taskset', [
      '-c',
      `0-${Number(cpu) - 1}`,
      '/usr/bin/time',
      '-f',
      'TIME %e %U %S %M',
      process.execPath,
      cli,
      'trace',
      '--pid',
      String(workload.pid),
      '--tracer',
      'profile',
      '--engine',
      engine,
      '--duration',
      `${profileSeconds}s`,
      '--out',
      join(dir, `rusage-${engine}`),
    ]);
    workload.kill('SIGKILL');
    const [wall, user, sys, maxKb] = /TIME (\S+) (\S+) (\S+) (\S+)/.exec(stderr)!.slice(1).map(Number) as number[];
    console.log(
      `${profileSeconds}s profile with ${engine}: runner+tracer CPU ${(user! + sys!).toFixed(2)} s ` +
        `(user ${user}, sys ${sys}), wall ${wall} s, peak RSS of the largest process ${(maxKb! / 1024).toFixed(1)} MiB`,
    );
  }
} else {
  console.log('CPU seconds and peak RSS: /usr/bin/time (Debian package time) is not installed');
}
await rm(dir, { recursive: true, force: true });

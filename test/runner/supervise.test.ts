import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { activeTracerGroups, processAlive, supervise } from '../../src/runner/supervise.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tracejob-supervise-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('SIGINT at the deadline lets the tracer finish its output', async () => {
  const script = 'trap \'echo "maps printed"; exit 0\' INT; echo started; while :; do sleep 0.05; done';
  const result = await supervise({
    argv: ['sh', '-c', script],
    durationMs: 500,
    graceMs: 3000,
    stdoutPath: join(dir, 'a.out'),
  });
  assert.equal(result.stoppedBy, 'deadline');
  assert.equal(result.killed, false);
  assert.equal(await readFile(join(dir, 'a.out'), 'utf8'), 'started\nmaps printed\n');
});

test('a tracer that ignores SIGINT is killed after the grace period, with every process of its group', async () => {
  const pidFile = join(dir, 'grandchild.pid');
  // The grandchild ignores SIGINT too and would outlive a runner that only signalled its direct child.
  const script = `trap '' INT; (trap '' INT; sleep 60) & echo $! > ${pidFile}; while :; do sleep 0.05; done`;
  const result = await supervise({ argv: ['sh', '-c', script], durationMs: 300, graceMs: 300 });
  assert.equal(result.stoppedBy, 'deadline');
  assert.equal(result.killed, true);
  const grandchild = Number(await readFile(pidFile, 'utf8'));
  for (let i = 0; i < 40 && processAlive(grandchild); i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(processAlive(grandchild), false, 'the grandchild survived');
  assert.deepEqual(activeTracerGroups(), []);
});

test('stdout is capped and reaching the cap stops the tracer', async () => {
  const result = await supervise({
    argv: ['sh', '-c', 'while :; do echo 0123456789abcdef; done'],
    durationMs: 20_000,
    graceMs: 2000,
    stdoutPath: join(dir, 'capped.out'),
    maxStdoutBytes: 10_000,
  });
  assert.equal(result.stoppedBy, 'output-cap');
  assert.equal(result.stdoutTruncated, true);
  assert.equal((await stat(join(dir, 'capped.out'))).size, 10_000);
  assert.ok(result.elapsedMs < 15_000);
});

test('the trace ends early when every watched target has exited', async () => {
  const { spawn } = await import('node:child_process');
  const target = spawn('sleep', ['0.3']);
  const result = await supervise({
    argv: ['sleep', '30'],
    durationMs: 20_000,
    graceMs: 1000,
    watchPids: [target.pid!],
  });
  assert.equal(result.stoppedBy, 'targets-exited');
});

test('an abort signal stops the tracer with SIGINT', async () => {
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 200);
  const result = await supervise({
    argv: ['sleep', '30'],
    durationMs: 20_000,
    graceMs: 1000,
    signal: controller.signal,
  });
  assert.equal(result.stoppedBy, 'aborted');
  assert.equal(result.exitSignal, 'SIGINT');
});

test('a missing program is reported, not hung on', async () => {
  const result = await supervise({ argv: ['/nonexistent/tracer'], durationMs: 1000 }).catch((e: Error) => e);
  // With setpriv as the launcher the exec failure is an exit status; without it, a spawn error.
  if (result instanceof Error) assert.match(result.message, /cannot start \/nonexistent\/tracer/);
  else assert.notEqual(result.exitCode, 0);
});

test('with a ready pattern, the duration counts from the moment the tracer is attached', async () => {
  // Attaching takes longer than the whole duration: without the pattern the tracer would be stopped before it.
  const script =
    'sleep 1; echo "Attaching 1 probe..."; trap \'echo stopped; exit 0\' INT; while :; do sleep 0.05; done';
  const result = await supervise({
    argv: ['sh', '-c', script],
    durationMs: 200,
    graceMs: 3000,
    stdoutPath: join(dir, 'ready.out'),
    readyPattern: /^Attaching \d+ probes?\.\.\./m,
  });
  assert.equal(result.stoppedBy, 'deadline');
  assert.equal(await readFile(join(dir, 'ready.out'), 'utf8'), 'Attaching 1 probe...\nstopped\n');
});

test('a tracer that never becomes ready is stopped after the startup timeout', async () => {
  const result = await supervise({
    argv: ['sleep', '30'],
    durationMs: 100,
    graceMs: 1000,
    readyPattern: /never/,
    startupTimeoutMs: 300,
  });
  assert.equal(result.stoppedBy, 'deadline');
});

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';

const run = promisify(execFile);
const cli = new URL('../../bin/tracejob.js', import.meta.url).pathname;
const fixtures = new URL('../fixtures/profile/', import.meta.url).pathname;

/** Runs the CLI with bytes on standard input. */
function withInput(args: string[], input: Buffer): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args]);
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(stdout), stderr }));
    child.stdin.end(input);
  });
}

test('tracejob collapse perf FILE prints the reference output', async () => {
  const { stdout } = await run(process.execPath, [cli, 'collapse', 'perf', '--all', `${fixtures}perf/c-pidtid.perf`]);
  assert.equal(stdout, readFileSync(`${fixtures}golden/c-pidtid.all.folded`, 'utf8'));
});

test('tracejob collapse perf reads gzip from standard input and reports skipped events', async () => {
  const gz = await withInput(['collapse', 'perf', '-'], readFileSync(`${fixtures}perf/system-wide.perf.gz`));
  assert.equal(gz.code, 0, gz.stderr);
  assert.equal(gz.stdout.toString(), readFileSync(`${fixtures}golden/system-wide.default.folded`, 'utf8'));
  const multi = await withInput(['collapse', 'perf'], readFileSync(`${fixtures}perf/multi-event.perf`));
  assert.match(multi.stderr, /kept only page-faults samples; skipped \d+ cpu-clock \(choose with --event-filter\)/);
  const malformed = await withInput(
    ['collapse', 'perf'],
    Buffer.from('app 1 1.0: 1 cycles:\n\t1 main (/a)\nnonsense\n\n'),
  );
  assert.equal(malformed.stdout.toString(), 'app;main 1\n');
  assert.match(malformed.stderr, /1 line\(s\) not understood and skipped, e\.g\.:\n {2}"nonsense"/);
});

test('binary input fails with a clear message and exit status 1', async () => {
  const result = await withInput(['collapse', 'perf'], readFileSync(process.execPath).subarray(0, 100_000));
  assert.equal(result.code, 1);
  assert.match(result.stderr, /tracejob: input is binary/);
  assert.equal(result.stdout.length, 0);
});

test('tracejob diff --folded matches difffolded.pl, with and without normalisation', async () => {
  const a = `${fixtures}golden/c-fp.default.folded`;
  const b = `${fixtures}golden/inlined.default.folded`;
  const plain = await run(process.execPath, [cli, 'diff', '--folded', a, b]);
  assert.equal(plain.stdout, readFileSync(`${fixtures}golden/c-fp-inlined.difffolded`, 'utf8'));
  const normalized = await run(process.execPath, [
    cli,
    'diff',
    '--folded',
    '--normalize',
    `${fixtures}golden/multi-event.default.folded`,
    a,
  ]);
  assert.equal(normalized.stdout, readFileSync(`${fixtures}golden/multi-c-fp-normalized.difffolded`, 'utf8'));
});

test('tracejob flamegraph draws plain and differential input; bad options name the option', async () => {
  const { stdout } = await run(process.execPath, [
    cli,
    'flamegraph',
    '--title',
    'Hot',
    '--colors',
    'js',
    '--countname',
    'ns',
    `${fixtures}golden/node-jit.jit.folded`,
  ]);
  assert.match(stdout, /^<\?xml/);
  assert.match(stdout, /<text id="title"[^>]*>Hot<\/text>/);
  assert.match(stdout, / ns, \d+\.\d\d%\)<\/title>/);
  const diff = await withInput(['flamegraph'], readFileSync(`${fixtures}golden/c-fp-inlined.difffolded`));
  assert.equal(diff.code, 0, diff.stderr);
  assert.match(diff.stdout.toString(), />Differential Flame Graph</);
  assert.match(diff.stdout.toString(), /fill="rgb\(255,\d+,\d+\)"/);
  await assert.rejects(
    run(process.execPath, [cli, 'flamegraph', '--width', '-5', `${fixtures}golden/c-fp.default.folded`]),
    (err: { code: number; stderr: string }) => {
      assert.notEqual(err.code, 0);
      assert.match(err.stderr, /--width must be a positive number/);
      return true;
    },
  );
  const empty = await withInput(['flamegraph'], Buffer.from('not folded\n'));
  assert.equal(empty.code, 1);
  assert.match(empty.stderr, /no stacks in the input/);
});

test('tracejob convert writes speedscope, pprof and the summary', async () => {
  const input = `${fixtures}perf/c-fp.perf`;
  const speedscope = JSON.parse(
    (await run(process.execPath, [cli, 'convert', '--from', 'perf', '--to', 'speedscope', input])).stdout,
  );
  assert.equal(speedscope.$schema, 'https://www.speedscope.app/file-format-schema.json');
  const summary = JSON.parse(
    (await run(process.execPath, [cli, 'convert', '--from', 'perf', '--to', 'summary', '--top', '2', input])).stdout,
  );
  assert.equal(summary.topFrames.length, 2);
  assert.equal(summary.topFrames[0].frame, 'leaf_hash');
  const dir = mkdtempSync(join(tmpdir(), 'tracejob-convert-'));
  try {
    const out = join(dir, 'p.pb.gz');
    await run(process.execPath, [cli, 'convert', '--from', 'perf', '--to', 'pprof', '-o', out, input]);
    assert.ok(gunzipSync(readFileSync(out)).length > 100);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await assert.rejects(run(process.execPath, [cli, 'convert', '--to', 'svg', input]), /Allowed choices are speedscope/);
});

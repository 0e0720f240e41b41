import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { Ajv } from 'ajv';
import { collapsePerfScript, summarize, toPprof, toSpeedscope, type Stacks } from '../../src/profile/index.ts';
import { needs } from '../support/requirements.ts';

const run = promisify(execFile);
const fixtures = new URL('../fixtures/profile/', import.meta.url).pathname;
const schema = JSON.parse(readFileSync(`${fixtures}speedscope/file-format-schema.json`, 'utf8'));

async function capture(name: string): Promise<Stacks> {
  return (await collapsePerfScript(createReadStream(`${fixtures}perf/${name}.perf`), { all: true })).stacks;
}

test('speedscope output validates against the published file-format schema', async () => {
  const validate = new Ajv({ strict: false }).compile(schema);
  for (const name of ['c-fp', 'node-jit', 'system-wide']) {
    const file = toSpeedscope(await capture(name), { name, unit: 'nanoseconds' });
    assert.ok(validate(JSON.parse(JSON.stringify(file))), `${name}: ${JSON.stringify(validate.errors)}`);
  }
  // The validator is not vacuous: a sampled profile without weights is rejected.
  const broken = JSON.parse(JSON.stringify(toSpeedscope(await capture('c-fp'))));
  delete broken.profiles[0].weights;
  assert.equal(validate(broken), false);
});

test('go tool pprof reads our pprof and reports the same flat and cumulative samples', needs('go'), async () => {
  const stacks = await capture('c-fp');
  const dir = mkdtempSync(join(tmpdir(), 'tracejob-pprof-'));
  try {
    const file = join(dir, 'c-fp.pb.gz');
    writeFileSync(file, await toPprof(stacks));
    const { stdout } = await run('go', ['tool', 'pprof', '-top', '-nodecount=1000', '-nodefraction=0', file], {
      env: { ...process.env, HOME: dir, GOCACHE: join(dir, 'cache'), PPROF_TMPDIR: dir },
    });
    const summary = summarize(stacks, { top: 5 });
    const total = summary.samples;
    assert.match(stdout, new RegExp(`of ${total} total`));
    for (const frame of summary.topFrames) {
      // Columns: flat flat% sum% cum cum% name
      const row = stdout.split('\n').find((line) => line.trim().endsWith(` ${frame.frame}`));
      assert.ok(row, `${frame.frame} missing from:\n${stdout}`);
      const [flat, , , cum] = row.trim().split(/\s+/);
      let self = 0;
      let cumulative = 0;
      for (const [stack, count] of stacks) {
        const names = stack.split(';');
        if (names[names.length - 1] === frame.frame) self += count;
        if (names.includes(frame.frame)) cumulative += count;
      }
      assert.equal(Number(flat), self, `${frame.frame} flat`);
      assert.equal(Number(cum), cumulative, `${frame.frame} cum`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('summary ranks frames by self share, then total share, as fractions', () => {
  const stacks: Stacks = new Map([
    ['app;main;hot', 60],
    ['app;main;warm', 30],
    ['app;main;main', 10],
  ]);
  const summary = summarize(stacks, { top: 3 });
  assert.equal(summary.samples, 100);
  assert.deepEqual(summary.topFrames, [
    { frame: 'hot', self: 0.6, total: 0.6 },
    { frame: 'warm', self: 0.3, total: 0.3 },
    { frame: 'main', self: 0.1, total: 1 },
  ]);
  const long = summarize(new Map([[`app;${'x'.repeat(500)}`, 1]]), { maxFrameLength: 20 });
  assert.equal(long.topFrames[0].frame, `${'x'.repeat(17)}...`);
  assert.deepEqual(summarize(new Map()), { samples: 0, topFrames: [] });
});

import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../src/log.ts';
import { findBinary } from '../../src/runner/prereq.ts';
import { describeProcess } from '../../src/runner/resolve.ts';
import { perfRecord } from '../../src/runner/tracers/perf.ts';
import { needs } from '../support/requirements.ts';
import { buildWorkloads, start } from './workloads.ts';

// perf's own start-up (-a, cgroup filters, a loaded node) can take seconds; the duration must count from when it
// records. A wrapper that waits before starting perf stands in for a slow start-up, longer than the duration itself.
const requirements = needs('root', 'cc', 'perf');
let workloads: Awaited<ReturnType<typeof buildWorkloads>>;
let dir: string;

before(async () => {
  if (requirements.skip) return;
  workloads = await buildWorkloads();
  dir = await mkdtemp(join(tmpdir(), 'tracejob-perf-start-'));
});
after(async () => {
  await workloads?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the duration counts from when perf records, however slow its start', requirements, async () => {
  const perf = await findBinary('perf');
  assert.ok(perf, 'perf not found');
  const slowPerf = join(dir, 'slow-perf');
  await writeFile(slowPerf, `#!/bin/sh\nsleep 3\nexec ${perf} "$@"\n`);
  await chmod(slowPerf, 0o700);
  const w = start([workloads.hot, '0']);
  try {
    const target = await describeProcess(w.pid);
    assert.ok(target);
    const workDir = join(dir, 'run');
    await mkdir(workDir);
    const frequency = 99;
    const durationMs = 2000;
    const started = Date.now();
    const outcome = await perfRecord({ mode: 'record', frequency, callGraph: 'fp', kernelStacks: true }).run({
      workDir,
      processes: [target],
      durationMs,
      graceMs: 5000,
      binaries: { perf: slowPerf },
      logger: silentLogger(),
    });
    const elapsed = Date.now() - started;
    assert.equal(outcome.stoppedBy, 'deadline', outcome.notes.join('; '));
    const script = await readFile(join(workDir, 'perf.script.txt'), 'utf8');
    const samples = script.split('\n').filter((line) => /\scpu-clock:/.test(line)).length;
    // A busy single-threaded target: about frequency × duration samples, fewer when other tests load the 2 CPUs. A
    // clock that started at spawn would stop perf during its slow start, with no samples at all.
    assert.ok(samples >= 0.25 * frequency * (durationMs / 1000), `${samples} samples in ${elapsed} ms`);
    assert.ok(samples <= 1.3 * frequency * (durationMs / 1000), `${samples} samples in ${elapsed} ms`);
    assert.ok(elapsed >= 3000 + durationMs, `finished after ${elapsed} ms`);
  } finally {
    await w.stop();
  }
});

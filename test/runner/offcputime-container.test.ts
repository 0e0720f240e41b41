import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runTrace } from '../../src/runner/run.ts';
import { needs } from '../support/requirements.ts';
import { buildWorkloads, startHidden } from './workloads.ts';

// libbpf-tools offcputime opens the paths of /proc/PID/maps in its own mount namespace: a binary that exists only in
// the container's leaves its frames [unknown]. Reproduced with the workload's binary on a tmpfs of a private mount
// (and PID) namespace; the runner must name its functions from the container's own file.
const requirements = needs('root', 'cc', 'libbpf-tools', 'btf');
let workloads: Awaited<ReturnType<typeof buildWorkloads>>;
let dir: string;

before(async () => {
  if (requirements.skip) return;
  workloads = await buildWorkloads();
  dir = await mkdtemp(join(tmpdir(), 'tracejob-offcputime-container-'));
});

after(async () => {
  await workloads?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('offcputime names the functions of a binary only the container can see', requirements, async () => {
  const workload = await startHidden(workloads.sleeper);
  try {
    const pid = workload.pid;
    await assert.rejects(readFile('/mnt/sleeper'), 'the binary must not be visible outside the container');
    const workDir = join(dir, 'out');
    const manifest = await runTrace(
      {
        targets: [{ kind: 'pid', pid }],
        tracer: { type: 'tool', tool: { name: 'offcputime' } },
        durationSeconds: 2,
        outputs: ['folded', 'raw', 'summary'],
      },
      { workDir, graceMs: 5000 },
    );
    assert.equal(manifest.state, 'Succeeded', JSON.stringify(manifest));
    const folded = await readFile(join(workDir, 'stacks.folded'), 'utf8');
    // main is in the container's binary; clock_nanosleep in its libc (the host's copy here); the kernel frames after.
    assert.match(folded, /^sleeper;.*main;.*clock_nanosleep;.*do_nanosleep.* \d+$/m, folded);
    assert.doesNotMatch(folded, /main;\[unknown\]|\[unknown\];.*clock_nanosleep/, folded);
  } finally {
    await workload.stop();
  }
});

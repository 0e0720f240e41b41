import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { parseResultManifest } from '../../src/runner/manifest.ts';
import { needs } from '../support/requirements.ts';
import { buildWorkloads, startHidden } from './workloads.ts';

// A gdb tracer pod has CAP_SYS_PTRACE but not CAP_SYS_ADMIN, so gdb cannot enter a container's mount namespace to
// read the binary at the path the container sees. Reproduced here: the workload's binary exists only on a tmpfs of
// a private mount (and PID) namespace, and the runner runs without CAP_SYS_ADMIN and CAP_SYS_CHROOT.
const requirements = needs('root', 'cc', 'gdb');
const run = promisify(execFile);
const cli = new URL('../../bin/tracejob.js', import.meta.url).pathname;
let workloads: Awaited<ReturnType<typeof buildWorkloads>>;
let dir: string;

before(async () => {
  if (requirements.skip) return;
  workloads = await buildWorkloads();
  dir = await mkdtemp(join(tmpdir(), 'tracejob-gdb-container-'));
});

after(async () => {
  await workloads?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test(
  'gdb symbolizes a process whose binary only its own mount namespace can see, with ptrace rights alone',
  requirements,
  async () => {
    const workload = await startHidden(workloads.hot, ['0']);
    try {
      const pid = workload.pid;
      const out = join(dir, 'out');
      await run('setpriv', [
        '--inh-caps=-sys_admin,-sys_chroot',
        '--bounding-set=-sys_admin,-sys_chroot',
        '--',
        process.execPath,
        cli,
        'trace',
        '--pid',
        String(pid),
        '--tracer',
        'gdb',
        '--samples',
        '1',
        '--duration',
        '3s',
        '--outputs',
        'raw,folded',
        '--out',
        out,
      ]);
      const manifest = parseResultManifest(await readFile(join(out, 'manifest.json'), 'utf8'));
      assert.equal(manifest.state, 'Succeeded', JSON.stringify(manifest));
      const raw = await readFile(join(out, 'gdb.txt'), 'utf8');
      assert.match(raw, /#0 .* in tracejob_hot_spin /, raw);
      assert.match(await readFile(join(out, 'stacks.folded'), 'utf8'), /main;tracejob_outer;tracejob_hot_spin 1/);
    } finally {
      await workload.stop();
    }
  },
);

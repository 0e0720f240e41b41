// A custom bpftrace program (allowed only with allowCustomBpftrace) still cannot run commands on the node: the runner
// never passes --unsafe, so bpftrace refuses system() and friends before anything runs. Exercised with the real
// bpftrace through the runner's adapter.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../src/log.ts';
import { bpftraceProgram } from '../../src/runner/tracers/bpftrace.ts';
import { needs } from '../support/requirements.ts';

test(
  'system() in a custom bpftrace program is refused, and the command never runs',
  needs('root', 'bpftrace', 'btf'),
  async () => {
    const workDir = await mkdtemp(join(tmpdir(), 'tracejob-security-bpftrace-'));
    const marker = join(workDir, 'pwned');
    try {
      const adapter = bpftraceProgram({ program: `BEGIN { system("touch ${marker}; id > ${marker}"); exit(); }` });
      const outcome = await adapter
        .run({
          workDir,
          processes: [{ pid: process.pid, nsPid: process.pid, comm: 'node', exe: process.execPath, cmdline: ['node'] }],
          durationMs: 3_000,
          graceMs: 3_000,
          binaries: { bpftrace: '/usr/bin/bpftrace' },
          logger: silentLogger(),
        })
        .then(
          (o) => o,
          (err: Error) => err,
        );
      assert.ok(outcome instanceof Error, `bpftrace ran the program: ${JSON.stringify(outcome)}`);
      assert.match(outcome.message, /unsafe/i);
      assert.equal(existsSync(marker), false, 'the command ran');
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  },
);

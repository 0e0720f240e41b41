import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../src/log.ts';
import { findBinary } from '../../src/runner/prereq.ts';
import { describeProcess } from '../../src/runner/resolve.ts';
import { bpftraceProgram } from '../../src/runner/tracers/bpftrace.ts';
import { needs } from '../support/requirements.ts';

// bpftrace 0.17 prints "Attaching N probes..." before it attaches them, and notices SIGINT only when the signal
// interrupts its epoll_wait: one that arrives while it is still attaching is lost, and it runs until SIGKILL with
// nothing printed. A duration that ends during the attach (a short trace, or many probes on a loaded node) hits that.
const requirements = needs('root', 'bpftrace', 'btf');
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tracejob-bpftrace-interrupt-'));
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('bpftrace stopped while it is still attaching its probes still prints its maps', requirements, async () => {
  const bpftrace = await findBinary('bpftrace');
  assert.ok(bpftrace, 'bpftrace not found');
  const self = await describeProcess(process.pid);
  assert.ok(self);
  // Some 27 tracepoints: attaching them takes a second or more, and the deadline falls right after the banner.
  const adapter = bpftraceProgram({ program: 'tracepoint:syscalls:sys_enter_r* { @calls[probe] = count(); }' });
  const outcome = await adapter.run({
    workDir: dir,
    processes: [self],
    durationMs: 1,
    graceMs: 15_000,
    binaries: { bpftrace },
    logger: silentLogger(),
  });
  assert.equal(outcome.stoppedBy, 'deadline');
  assert.deepEqual(
    outcome.notes.filter((n) => /ignored SIGINT/.test(n)),
    [],
  );
  assert.match(
    await readFile(join(dir, 'bpftrace.txt'), 'utf8'),
    /^@calls\[tracepoint:syscalls:sys_enter_r\w+\]: \d+$/m,
  );
});

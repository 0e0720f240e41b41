import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { RunnerError } from '../../src/runner/errors.ts';
import { checkPrerequisites } from '../../src/runner/prereq.ts';

// The kernel checks read files whose paths tests can redirect, so every failure message is exercised here.
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tracejob-prereq-'));
  await writeFile(join(dir, 'perf_event_paranoid'), '2\n');
  await writeFile(join(dir, 'kptr_restrict'), '2\n');
  await writeFile(join(dir, 'mountinfo'), '22 1 0:21 / /proc rw - proc proc rw\n');
  await writeFile(join(dir, 'vmlinux'), 'btf');
  await writeFile(join(dir, 'mytracer'), '#!/bin/sh\n', { mode: 0o755 });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const paths = () => ({ procSysKernel: dir, btf: join(dir, 'vmlinux'), mountinfo: join(dir, 'mountinfo'), path: dir });

test('binaries are found on the search path and returned with their absolute paths', async () => {
  const report = await checkPrerequisites({ binaries: [{ name: 'mytracer', package: 'x' }] }, paths());
  assert.deepEqual(report.binaries, { mytracer: join(dir, 'mytracer') });
});

test('every missing binary is listed with its Debian package', async () => {
  await assert.rejects(
    checkPrerequisites(
      {
        binaries: [
          { name: 'perf', package: 'linux-perf' },
          { name: 'bpftrace', package: 'bpftrace' },
        ],
      },
      paths(),
    ),
    (err: RunnerError) => {
      assert.equal(err.reason, 'TracerMissing');
      assert.match(err.message, /perf \(Debian package linux-perf\), bpftrace \(Debian package bpftrace\)/);
      return true;
    },
  );
});

test('hidden kernel addresses are a warning that says how to fix it', async () => {
  const report = await checkPrerequisites({ binaries: [], kernelSymbols: true }, paths());
  assert.match(report.warnings.join(), /kptr_restrict is 2: kernel addresses are hidden.*kptr_restrict=0/);
});

test('missing BTF and an unmounted tracefs are reported together as KernelUnsupported', async () => {
  await assert.rejects(
    checkPrerequisites({ binaries: [], btf: true, tracefs: true }, { ...paths(), btf: join(dir, 'none') }),
    (err: RunnerError) => {
      assert.equal(err.reason, 'KernelUnsupported');
      assert.match(err.message, /kernel BTF is missing/);
      assert.match(err.message, /tracefs is not mounted/);
      return true;
    },
  );
});

test('a mounted tracefs is found through mountinfo', async () => {
  const mountinfo = join(dir, 'mountinfo-tracefs');
  await writeFile(mountinfo, '30 22 0:12 / /sys/kernel/tracing rw,nosuid - tracefs tracefs rw\n');
  const report = await checkPrerequisites({ binaries: [], tracefs: true }, { ...paths(), mountinfo });
  assert.equal(report.tracefs, '/sys/kernel/tracing');
});

test('missing capabilities are named, with what each is for', async () => {
  const status = join(dir, 'status');
  // CAP_CHOWN..CAP_SETFCAP of an unprivileged container: no CAP_SYS_ADMIN, CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE.
  await writeFile(status, 'Name:\tnode\nCapEff:\t00000000a80425fb\n');
  await assert.rejects(
    checkPrerequisites({ binaries: [], privileges: ['bpf', 'perf', 'ptrace'] }, { ...paths(), procSelfStatus: status }),
    (err: RunnerError) => {
      assert.equal(err.reason, 'InsufficientPrivileges');
      assert.match(err.message, /CAP_BPF and CAP_PERFMON \(or CAP_SYS_ADMIN\) to load BPF programs/);
      assert.match(err.message, /CAP_PERFMON \(or CAP_SYS_ADMIN\) to sample other processes/);
      assert.match(err.message, /CAP_SYS_PTRACE to attach to other processes/);
      return true;
    },
  );
  // CAP_BPF + CAP_PERFMON + CAP_SYS_PTRACE without CAP_SYS_ADMIN is enough.
  const narrow = (1n << 39n) | (1n << 38n) | (1n << 19n);
  await writeFile(status, `CapEff:\t${narrow.toString(16).padStart(16, '0')}\n`);
  await checkPrerequisites(
    { binaries: [], privileges: ['bpf', 'perf', 'ptrace'] },
    { ...paths(), procSelfStatus: status },
  );
});

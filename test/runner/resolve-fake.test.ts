import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { selectProcesses } from '../../src/runner/filter.ts';
import { resolveContainer, type TargetProcess } from '../../src/runner/resolve.ts';
import { RunnerError } from '../../src/runner/errors.ts';

// A fabricated /proc and cgroup tree: the resolver only reads files, so every case can be built without a kernel.
const uid = '6f1c5e0a-3b7d-4c2e-9a8b-0d1e2f3a4b5c';
const id = 'd'.repeat(64);
const other = 'e'.repeat(64);
let root: string;

async function fakeProcess(pid: number, cgroupPath: string, nsPids: number[], comm: string, cmdline: string[]) {
  const dir = join(root, 'proc', String(pid));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'cgroup'), `4:pids:${cgroupPath}\n1:name=systemd:${cgroupPath}\n0::${cgroupPath}\n`);
  await writeFile(join(dir, 'status'), `Name:\t${comm}\nNSpid:\t${nsPids.join('\t')}\n`);
  await writeFile(join(dir, 'comm'), `${comm}\n`);
  await writeFile(join(dir, 'cmdline'), `${cmdline.join('\0')}\0`);
  await symlink(`/usr/bin/${comm}`, join(dir, 'exe'));
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'tracejob-fakeproc-'));
  const container = `/kubepods/burstable/pod${uid}/${id}`;
  await mkdir(join(root, 'proc', 'self'), { recursive: true });
  await writeFile(
    join(root, 'proc', 'self', 'mountinfo'),
    [
      `40 1 0:40 / ${root}/cg/unified rw - cgroup2 cgroup2 rw`,
      `41 1 0:41 / ${root}/cg/pids rw - cgroup cgroup rw,pids`,
      `42 1 0:42 / ${root}/cg/systemd rw - cgroup cgroup rw,xattr,name=systemd`,
    ].join('\n'),
  );
  await fakeProcess(100, container, [100, 1], 'node', ['node', 'server.js']);
  await fakeProcess(101, container, [101, 7], 'sh', ['/bin/sh', '-c', 'sleep 1']);
  await fakeProcess(102, `${container}/worker`, [102, 9], 'worker', ['worker', '--threads=2']);
  await fakeProcess(200, `/kubepods/burstable/pod${uid}/${other}`, [200, 1], 'sidecar', ['sidecar']);
  await fakeProcess(300, `/kubepods/burstable/pod${uid}`, [300], 'pause', ['/pause']);
  await fakeProcess(1, '/', [1], 'init', ['/sbin/init']);
  // 103 is in the container's cgroup but not (yet) visible in the /proc scan's first pass: only cgroup.procs has it
  for (const h of ['unified', 'pids', 'systemd']) {
    await mkdir(join(root, 'cg', h, container, 'worker'), { recursive: true });
    await writeFile(join(root, 'cg', h, container, 'cgroup.procs'), '100\n101\n');
    await writeFile(join(root, 'cg', h, container, 'worker', 'cgroup.procs'), '102\n103\n');
  }
  await fakeProcess(103, '/elsewhere-when-scanned', [103, 11], 'late', ['late']);
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

test('every process of the container is found, sub-cgroups included, never the sidecar, pause or host', async () => {
  const resolved = await resolveContainer(
    { podUID: uid, containerID: `containerd://${id}` },
    { proc: join(root, 'proc') },
  );
  assert.deepEqual(
    resolved.processes.map((p) => p.pid),
    [100, 101, 102, 103],
  );
  assert.deepEqual(
    resolved.processes.map((p) => p.nsPid),
    [1, 7, 9, 11],
  );
  assert.equal(resolved.cgroupV2Dir, join(root, 'cg', 'unified', `/kubepods/burstable/pod${uid}/${id}`));
  assert.equal(typeof resolved.cgroupId, 'number');
  assert.deepEqual(resolved.processes[0], {
    pid: 100,
    nsPid: 1,
    comm: 'node',
    exe: '/usr/bin/node',
    cmdline: ['node', 'server.js'],
  } satisfies TargetProcess);
});

test('the underscore form of the pod UID works the same', async () => {
  const resolved = await resolveContainer(
    { podUID: uid.replaceAll('-', '_'), containerID: `cri-o://${id}` },
    { proc: join(root, 'proc') },
  );
  assert.equal(resolved.processes.length, 4);
});

test('an unknown container says which cgroups of the pod exist', async () => {
  await assert.rejects(
    resolveContainer({ podUID: uid, containerID: `containerd://${'f'.repeat(64)}` }, { proc: join(root, 'proc') }),
    (err: Error) => {
      assert.match(err.message, /no process of container containerd:\/\/f+ in pod/);
      assert.match(err.message, new RegExp(`Cgroups of that pod that exist: .*${other}`));
      return true;
    },
  );
  await assert.rejects(
    resolveContainer(
      { podUID: '99999999-2222-3333-4444-555555555555', containerID: `containerd://${id}` },
      {
        proc: join(root, 'proc'),
      },
    ),
    /No cgroup mentions that pod UID/,
  );
});

test('the process filter selects by in-container PID, comm, exe and command line', async () => {
  const { processes } = await resolveContainer(
    { podUID: uid, containerID: `containerd://${id}` },
    { proc: join(root, 'proc') },
  );
  assert.deepEqual(
    selectProcesses(processes, { pid: 1 }).map((p) => p.pid),
    [100],
  );
  assert.deepEqual(
    selectProcesses(processes, { comm: 'sh' }).map((p) => p.pid),
    [101],
  );
  assert.deepEqual(
    selectProcesses(processes, { exe: '/usr/bin/worker' }).map((p) => p.pid),
    [102],
  );
  assert.deepEqual(
    selectProcesses(processes, { cmdline: 'server\\.js$' }).map((p) => p.pid),
    [100],
  );
  assert.deepEqual(
    selectProcesses(processes, { cmdline: '^/bin/sh -c' }).map((p) => p.pid),
    [101],
  );
  // every field given must match
  assert.throws(() => selectProcesses(processes, { comm: 'node', cmdline: 'worker' }), /no process matches/);
});

test('a filter that matches nothing lists what the container has', async () => {
  const { processes } = await resolveContainer(
    { podUID: uid, containerID: `containerd://${id}` },
    { proc: join(root, 'proc') },
  );
  assert.throws(
    () => selectProcesses(processes, { comm: 'java' }),
    (err: RunnerError) => {
      assert.equal(err.reason, 'NoMatchingProcess');
      assert.match(err.message, /process: no process matches \{"comm":"java"\}/);
      assert.match(err.message, /pid 1 comm "node" exe "\/usr\/bin\/node" cmdline "node server.js"/);
      assert.match(err.message, /comm "worker"/);
      return true;
    },
  );
});

test('command-line patterns run in linear time and unsupported syntax is refused by field', () => {
  // (a+)+$ on a long run of a's followed by b is exponential for a backtracking engine; RE2 answers at once.
  const victim: TargetProcess = { pid: 5, nsPid: 5, comm: 'x', exe: '/x', cmdline: ['a'.repeat(4000) + 'b'] };
  assert.throws(() => selectProcesses([victim], { cmdline: '(a+)+$' }), /no process matches/);
  assert.throws(
    () => selectProcesses([victim], { cmdline: '(a)\\1' }),
    /process\.cmdline: not an RE2 regular expression/,
  );
  assert.throws(
    () => selectProcesses([victim], { cmdline: 'x'.repeat(2000) }),
    /process\.cmdline: pattern is 2000 characters/,
  );
});

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readlink, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  cgroupHierarchies,
  cgroupPathFor,
  ContainerStartError,
  ensureCgroup,
  newContainerID,
  ociConfig,
  ownBoundingSet,
  podCgroupPath,
  removeCgroup,
  runContainer,
  type RunContainerOptions,
  type RunningContainer,
} from '../../src/devcluster/runc.ts';
import { needs } from '../support/requirements.ts';

/** Running or sleeping; a killed process may stay a zombie until whoever inherited it reaps it. */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

describe('cgroup paths', () => {
  const uid = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
  const id = 'a'.repeat(64);
  const cases = [
    { qosClass: 'Burstable', driver: 'cgroupfs', want: `/kubepods/burstable/pod${uid}/${id}` },
    { qosClass: 'BestEffort', driver: 'cgroupfs', want: `/kubepods/besteffort/pod${uid}/${id}` },
    { qosClass: 'Guaranteed', driver: 'cgroupfs', want: `/kubepods/pod${uid}/${id}` },
    {
      qosClass: 'Burstable',
      driver: 'systemd',
      want: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0.slice/cri-containerd-${id}.scope`,
    },
    {
      qosClass: 'BestEffort',
      driver: 'systemd',
      want: `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0.slice/cri-containerd-${id}.scope`,
    },
    {
      qosClass: 'Guaranteed',
      driver: 'systemd',
      want: `/kubepods.slice/kubepods-pod0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0.slice/cri-containerd-${id}.scope`,
    },
  ] as const;
  for (const c of cases) {
    test(`${c.qosClass} with ${c.driver}`, () => {
      assert.equal(cgroupPathFor({ qosClass: c.qosClass, podUID: uid, containerID: id, driver: c.driver }), c.want);
      assert.ok(c.want.startsWith(podCgroupPath({ qosClass: c.qosClass, podUID: uid, driver: c.driver }) + '/'));
    });
  }
  test('refuses IDs that could escape the hierarchy', () => {
    assert.throws(() => cgroupPathFor({ qosClass: 'Burstable', podUID: '../x', containerID: id, driver: 'cgroupfs' }));
    assert.throws(() => cgroupPathFor({ qosClass: 'Burstable', podUID: uid, containerID: '../a', driver: 'cgroupfs' }));
  });
  test('newContainerID is 64 hex and unique', () => {
    const a = newContainerID();
    assert.match(a, /^[0-9a-f]{64}$/);
    assert.notEqual(a, newContainerID());
  });
});

describe('OCI config', () => {
  const base = { args: ['true'], cgroupsPath: '/kubepods/x', rootfs: '/r' };
  test('ordinary containers get their own PID, mount, IPC and UTS namespaces but the host network', () => {
    const config = ociConfig(base);
    assert.deepEqual(config.linux.namespaces.map((n) => n.type).sort(), ['ipc', 'mount', 'pid', 'uts']);
    assert.ok(config.linux.maskedPaths?.includes('/proc/kcore'));
    assert.ok(!config.process.capabilities.bounding.includes('CAP_SYS_ADMIN'));
    assert.deepEqual(config.mounts.find((m) => m.destination === '/sys')?.options.at(-1), 'ro');
    assert.equal(config.mounts.find((m) => m.destination === '/tmp')?.type, 'tmpfs');
  });
  test('hostPID shares the host PID namespace; privileged gets every capability runc holds and /sys rw', () => {
    const withoutSysResource = ((1n << 41n) - 1n) & ~(1n << 24n);
    const config = ociConfig({ ...base, hostPID: true, privileged: true, boundingSet: withoutSysResource });
    assert.ok(!config.linux.namespaces.some((n) => n.type === 'pid'));
    assert.equal(config.process.capabilities.bounding.length, 40);
    assert.ok(config.process.capabilities.bounding.includes('CAP_BPF'));
    assert.ok(config.process.capabilities.bounding.includes('CAP_CHECKPOINT_RESTORE'));
    assert.ok(!config.process.capabilities.bounding.includes('CAP_SYS_RESOURCE'));
    assert.equal(config.linux.maskedPaths, undefined);
    assert.deepEqual(config.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
    assert.deepEqual(config.mounts.find((m) => m.destination === '/sys')?.options.at(-1), 'rw');
  });
  test('resources become cgroup limits', () => {
    const config = ociConfig({
      ...base,
      resources: { memoryLimitBytes: 1 << 20, cpuShares: 512, cpuQuotaMicros: 50000 },
    });
    assert.deepEqual(config.linux.resources.memory, { limit: 1 << 20 });
    assert.deepEqual(config.linux.resources.cpu, { shares: 512, quota: 50000, period: 100000 });
  });
});

describe('runc containers', needs('root', 'runc'), () => {
  let dir: string;
  const podUID = `${process.pid}-runc-test`;
  const started: RunningContainer[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tracejob-runc-'));
  });
  after(async () => {
    for (const c of started) await c.delete();
    for (const qosClass of ['Burstable', 'Guaranteed'] as const) {
      await removeCgroup(podCgroupPath({ qosClass, podUID, driver: 'cgroupfs' }), { removeEmptyAncestors: true });
    }
    await removeCgroup(podCgroupPath({ qosClass: 'Burstable', podUID, driver: 'systemd' }), {
      removeEmptyAncestors: true,
    });
    await rm(dir, { recursive: true, force: true });
  });

  async function start(
    args: string[],
    extra: Partial<RunContainerOptions> & { driver?: 'cgroupfs' | 'systemd' } = {},
  ): Promise<{ container: RunningContainer; cgroup: string; output: () => Promise<string> }> {
    const id = newContainerID();
    const cgroup = cgroupPathFor({
      qosClass: 'Burstable',
      podUID,
      containerID: id,
      driver: extra.driver ?? 'cgroupfs',
    });
    const log = join(dir, `${id}.log`);
    const container = await runContainer({
      id,
      stateRoot: join(dir, 'state'),
      bundleDir: join(dir, 'bundles', id),
      args,
      cgroupsPath: cgroup,
      stdoutPath: log,
      stderrPath: log,
      ...extra,
    });
    started.push(container);
    return { container, cgroup, output: () => readFile(log, 'utf8') };
  }

  async function until(check: () => Promise<boolean>, what: string) {
    for (let i = 0; i < 200; i++) {
      if (await check()) return;
      await sleep(25);
    }
    assert.fail(`timed out waiting for ${what}`);
  }

  test('own PID namespace, the predicted cgroup, nothing left after delete', async () => {
    const { container, cgroup, output } = await start(['sh', '-c', 'sleep 30 & echo $$; wait']);
    await until(async () => (await output()).includes('\n'), 'the shell to print its PID');
    assert.equal((await output()).trim(), '1');
    assert.notEqual(await readlink(`/proc/${container.hostPid}/ns/pid`), await readlink('/proc/self/ns/pid'));
    assert.notEqual(await readlink(`/proc/${container.hostPid}/ns/mnt`), await readlink('/proc/self/ns/mnt'));

    const hierarchies = await cgroupHierarchies();
    const procs = (await readFile(join('/sys/fs/cgroup/memory', cgroup, 'cgroup.procs'), 'utf8'))
      .split('\n')
      .filter(Boolean);
    assert.equal(procs.length, 2, 'the shell and its sleep');
    for (const pid of procs) {
      const lines = (await readFile(`/proc/${pid}/cgroup`, 'utf8')).trim().split('\n');
      for (const line of lines) assert.equal(line.split(':')[2], cgroup, line);
    }

    await container.delete();
    for (const pid of procs) assert.equal(await alive(Number(pid)), false, `process ${pid} survived`);
    for (const root of hierarchies) assert.equal(existsSync(join(root, cgroup)), false, `${root}${cgroup} survived`);
    assert.equal(existsSync(join(dir, 'bundles', container.id)), false);
  });

  test('removeCgroup keeps ancestors another cgroup still uses and refuses a cgroup that has children', async () => {
    const base = `/tracejob-runc-test-${process.pid}`;
    await ensureCgroup(`${base}/a`);
    await ensureCgroup(`${base}/b`);
    const hierarchies = await cgroupHierarchies();
    await assert.rejects(removeCgroup(base), /still has processes or children/);
    await removeCgroup(`${base}/a`, { removeEmptyAncestors: true });
    for (const root of hierarchies) {
      assert.equal(existsSync(join(root, base, 'a')), false);
      assert.equal(existsSync(join(root, base, 'b')), true);
    }
    await removeCgroup(`${base}/b`, { removeEmptyAncestors: true });
    for (const root of hierarchies) assert.equal(existsSync(join(root, base)), false);
  });

  test('systemd-style slice paths work as plain cgroup directories', async () => {
    const { container, cgroup } = await start(['sleep', '30'], { driver: 'systemd' });
    assert.match(cgroup, /cri-containerd-[0-9a-f]{64}\.scope$/);
    const line = (await readFile(`/proc/${container.hostPid}/cgroup`, 'utf8'))
      .split('\n')
      .find((l) => l.includes(':memory:'));
    assert.equal(line?.split(':')[2], cgroup);
    await container.delete();
    assert.equal(existsSync(join('/sys/fs/cgroup/memory', cgroup)), false);
  });

  test('exit codes and signals', async () => {
    const three = await start(['sh', '-c', 'exit 3']);
    assert.deepEqual(await three.container.wait(), { exitCode: 3, signal: null, oomKilled: false });
    const killed = await start(['sleep', '30']);
    await killed.container.kill('SIGKILL');
    assert.deepEqual(await killed.container.wait(), { exitCode: 137, signal: 'SIGKILL', oomKilled: false });
    const termed = await start(['sh', '-c', 'trap "exit 7" TERM; while :; do sleep 0.05; done']);
    await sleep(100);
    await termed.container.kill('SIGTERM');
    assert.equal((await termed.container.wait()).exitCode, 7);
  });

  test('output of a container that exits at once is kept for a reader that attaches late', async () => {
    const id = newContainerID();
    const container = await runContainer({
      id,
      stateRoot: join(dir, 'state'),
      bundleDir: join(dir, 'bundles', id),
      args: ['sh', '-c', 'echo out; echo err >&2'],
      cgroupsPath: cgroupPathFor({ qosClass: 'Burstable', podUID, containerID: id, driver: 'cgroupfs' }),
    });
    started.push(container);
    await container.wait();
    await sleep(100);
    const read = async (stream: NodeJS.ReadableStream | null) => {
      let text = '';
      for await (const chunk of stream!) text += String(chunk);
      return text;
    };
    assert.deepEqual(await Promise.all([read(container.stdout), read(container.stderr)]), ['out\n', 'err\n']);
  });

  test('a memory limit makes the OOM killer strike and the exit says so', async () => {
    const { container } = await start(['tail', '/dev/zero'], { resources: { memoryLimitBytes: 32 * 1024 * 1024 } });
    const exit = await container.wait();
    assert.equal(exit.exitCode, 137);
    assert.equal(exit.oomKilled, true);
  });

  test('a missing executable is a start error that leaves nothing behind', async () => {
    const id = newContainerID();
    const cgroup = cgroupPathFor({ qosClass: 'Burstable', podUID, containerID: id, driver: 'cgroupfs' });
    await assert.rejects(
      runContainer({
        id,
        stateRoot: join(dir, 'state'),
        bundleDir: join(dir, 'bundles', id),
        args: ['/no/such/binary'],
        cgroupsPath: cgroup,
      }),
      (err: Error) => err instanceof ContainerStartError && /no such file|not found/i.test(err.message),
    );
    assert.equal(existsSync(join('/sys/fs/cgroup/memory', cgroup)), false);
    assert.equal(existsSync(join(dir, 'bundles', id)), false);
  });

  test('env, cwd, bind mounts, a private /tmp and a root filesystem whose writes stay in the container', async () => {
    const data = join(dir, 'data');
    await mkdir(data);
    await writeFile(join(data, 'in'), 'from the host\n');
    const marker = `/etc/tracejob-runc-test-${process.pid}`;
    const { container, output } = await start(
      [
        'sh',
        '-c',
        `echo "$GREETING"; pwd; cat /data/in; echo x > /data/out; ls -A /tmp | wc -l; echo w > ${marker} && cat ${marker}; touch /ro/x 2>/dev/null || echo ro`,
      ],
      {
        env: { GREETING: 'hello world' },
        cwd: '/data',
        mounts: [
          { source: data, destination: '/data' },
          { source: data, destination: '/ro', readOnly: true },
        ],
      },
    );
    assert.equal((await container.wait()).exitCode, 0);
    const lines = (await output()).trim().split('\n');
    assert.deepEqual(lines, ['hello world', '/data', 'from the host', '0', 'w', 'ro']);
    assert.equal(await readFile(join(data, 'out'), 'utf8'), 'x\n');
    assert.equal(existsSync(marker), false, 'the container wrote to the host root filesystem');
    assert.equal(existsSync('/ro'), false, 'a mount point was created on the host');
  });

  test('readOnlyRootFilesystem makes the image read-only but keeps /tmp and volumes writable', async () => {
    const data = join(dir, 'ro-data');
    await mkdir(data);
    const { container, output } = await start(
      [
        'sh',
        '-c',
        'touch /image-write 2>/dev/null || echo root-ro; touch /tmp/t && echo tmp-rw; touch /data/d && echo volume-rw',
      ],
      { readOnlyRootFilesystem: true, mounts: [{ source: data, destination: '/data' }] },
    );
    assert.equal((await container.wait()).exitCode, 0);
    assert.equal(await output(), 'root-ro\ntmp-rw\nvolume-rw\n');
  });

  test('capabilities can be dropped and added', async () => {
    const { container, output } = await start(['sh', '-c', 'grep CapEff /proc/self/status'], {
      capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE', 'CAP_KILL'] },
    });
    assert.equal((await container.wait()).exitCode, 0);
    // CAP_KILL is bit 5, CAP_NET_BIND_SERVICE bit 10.
    assert.equal(BigInt(`0x${(await output()).trim().split(/\s+/)[1]}`), (1n << 5n) | (1n << 10n));
  });

  test('hostPID privileged containers see host processes and have every capability', async () => {
    const { container, output } = await start(
      ['sh', '-c', `echo $$; test -d /proc/${process.pid} && echo sees-host; grep CapEff /proc/self/status`],
      { hostPID: true, privileged: true },
    );
    assert.equal((await container.wait()).exitCode, 0);
    const [pid, seen, capEff] = (await output()).trim().split('\n');
    assert.notEqual(pid, '1');
    assert.equal(seen, 'sees-host');
    assert.equal(BigInt(`0x${capEff.split(/\s+/)[1]}`), await ownBoundingSet());
  });

  test('delete of a hostPID container kills every process in its cgroup, not only init', async () => {
    const { container, cgroup, output } = await start(['sh', '-c', 'sleep 30 & echo $!; wait'], {
      hostPID: true,
      privileged: true,
    });
    await until(async () => (await output()).includes('\n'), 'the background PID');
    const child = Number((await output()).trim());
    assert.ok(await alive(child));
    await container.delete();
    assert.equal(await alive(child), false);
    assert.equal(existsSync(join('/sys/fs/cgroup/memory', cgroup)), false);
  });
});

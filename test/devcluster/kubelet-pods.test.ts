import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';

import { cgroupHierarchies, cgroupPathFor, podCgroupPath, type QosClass } from '../../src/devcluster/runc.ts';
import { useCluster, type TestCluster } from '../support/cluster.ts';
import { needs } from '../support/requirements.ts';

// Kubernetes expands `$$` in command and args to `$` (its `$(VAR)` escape), so a shell sees `$$` only when the pod
// spec says `$$$$`; this holds on a real cluster as on the development cluster.
const shellPid = '$$$$';

describe('local kubelet: pods as runc containers', needs('root', 'runc'), () => {
  let cluster: TestCluster;
  let core: CoreV1Api;
  let scratch: string;
  const namespace = `kubelet-${process.pid}`;

  before(async () => {
    cluster = await useCluster({ kubelet: true });
    core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    scratch = await mkdtemp(join(tmpdir(), 'tracejob-kubelet-test-'));
  });
  after(async () => {
    await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
    await cluster?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  function podSpec(
    name: string,
    spec: Partial<NonNullable<V1Pod['spec']>>,
    container: Record<string, unknown> = {},
  ): V1Pod {
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace },
      spec: {
        restartPolicy: 'Never',
        terminationGracePeriodSeconds: 1,
        ...spec,
        containers: spec.containers ?? [{ name: 'main', image: 'busybox:1.36', ...container }],
      },
    };
  }

  async function create(pod: V1Pod): Promise<V1Pod> {
    return core.createNamespacedPod({ namespace, body: pod });
  }

  async function waitFor(name: string, what: string, ok: (pod: V1Pod) => boolean, timeoutMs = 30_000): Promise<V1Pod> {
    const deadline = Date.now() + timeoutMs;
    let pod: V1Pod | undefined;
    while (Date.now() < deadline) {
      pod = await core.readNamespacedPod({ name, namespace });
      if (ok(pod)) return pod;
      await sleep(100);
    }
    assert.fail(`pod ${name} never became ${what}; last status: ${JSON.stringify(pod?.status)}`);
  }

  const phase = (p: string) => (pod: V1Pod) => pod.status?.phase === p;
  const terminal = (pod: V1Pod) => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';

  async function logs(name: string, args: string[] = []): Promise<string> {
    const result = await cluster.kubectl(['logs', '-n', namespace, name, ...args]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout;
  }

  async function eventReasons(pod: string): Promise<string[]> {
    const events = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${pod}` });
    return events.items.map((e) => e.reason ?? '');
  }

  async function alive(pid: number): Promise<boolean> {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    return stat !== '' && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  }

  function containerHex(pod: V1Pod, index = 0): string {
    const id = pod.status?.containerStatuses?.[index]?.containerID ?? '';
    assert.match(id, /^containerd:\/\/[0-9a-f]{64}$/);
    return id.slice('containerd://'.length);
  }

  test('a shell runs as PID 1 of its own namespace, in the predicted cgroup, and kubectl delete leaves nothing', async () => {
    await create(podSpec('pidns', {}, { command: ['sh', '-c', `echo ${shellPid}; exec sleep 30`] }));
    const running = await waitFor('pidns', 'Running', phase('Running'));
    for (let i = 0; i < 50 && (await logs('pidns')) === ''; i++) await sleep(100);
    assert.equal((await logs('pidns')).trim(), '1');
    if (!cluster.isDevCluster) return;

    const qosClass = running.status?.qosClass as QosClass;
    assert.equal(qosClass, 'BestEffort');
    const cgroup = cgroupPathFor({
      qosClass,
      podUID: running.metadata!.uid!,
      containerID: containerHex(running),
      driver: 'cgroupfs',
    });
    assert.equal(cgroup, `/kubepods/besteffort/pod${running.metadata!.uid}/${containerHex(running)}`);
    const pids = (await readFile(join('/sys/fs/cgroup/memory', cgroup, 'cgroup.procs'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map(Number);
    assert.equal(pids.length, 1, 'exec replaced the shell by sleep');
    for (const pid of pids) {
      assert.equal((await readFile(`/proc/${pid}/comm`, 'utf8')).trim(), 'sleep');
      for (const line of (await readFile(`/proc/${pid}/cgroup`, 'utf8')).trim().split('\n')) {
        assert.equal(line.split(':')[2], cgroup, line);
      }
      assert.notEqual(await readlink(`/proc/${pid}/ns/pid`), await readlink('/proc/self/ns/pid'));
      assert.notEqual(await readlink(`/proc/${pid}/ns/mnt`), await readlink('/proc/self/ns/mnt'));
    }

    const deleted = await cluster.kubectl(['delete', 'pod', '-n', namespace, 'pidns', '--wait=true']);
    assert.equal(deleted.code, 0, deleted.stderr);
    await assert.rejects(
      core.readNamespacedPod({ name: 'pidns', namespace }),
      (err: { code?: number }) => err.code === 404,
    );
    for (const pid of pids) assert.equal(await alive(pid), false, `pid ${pid} survived the pod`);
    const podCgroup = podCgroupPath({ qosClass, podUID: running.metadata!.uid!, driver: 'cgroupfs' });
    for (const root of await cgroupHierarchies()) {
      assert.equal(existsSync(join(root, cgroup)), false, `${root}${cgroup} survived`);
      assert.equal(existsSync(join(root, podCgroup)), false, `${root}${podCgroup} survived`);
    }
  });

  test('exit codes, reasons and termination messages', { concurrency: true }, async (t) => {
    await t.test('success with a message from the file', async () => {
      await create(podSpec('ok', {}, { command: ['sh', '-c', 'printf "all good" > /dev/termination-log'] }));
      const pod = await waitFor('ok', 'Succeeded', phase('Succeeded'));
      const terminated = pod.status?.containerStatuses?.[0].state?.terminated;
      assert.equal(terminated?.exitCode, 0);
      assert.equal(terminated?.reason, 'Completed');
      assert.equal(terminated?.message, 'all good');
      const reasons = await eventReasons('ok');
      for (const reason of ['Scheduled', 'Created', 'Started']) assert.ok(reasons.includes(reason), reasons.join());
    });
    await t.test('failure keeps the exit code', async () => {
      await create(podSpec('fails', {}, { command: ['sh', '-c', 'echo boom >&2; exit 3'] }));
      const pod = await waitFor('fails', 'Failed', phase('Failed'));
      const terminated = pod.status?.containerStatuses?.[0].state?.terminated;
      assert.equal(terminated?.exitCode, 3);
      assert.equal(terminated?.reason, 'Error');
      assert.equal(terminated?.message, undefined);
      assert.equal(await logs('fails'), 'boom\n');
    });
    await t.test('FallbackToLogsOnError uses the log tail; a custom path and the 4096-byte limit', async () => {
      await create(
        podSpec(
          'fallback',
          {},
          { command: ['sh', '-c', 'echo first; echo last; exit 1'], terminationMessagePolicy: 'FallbackToLogsOnError' },
        ),
      );
      await create(
        podSpec(
          'custom-path',
          {},
          {
            command: ['sh', '-c', 'head -c 5000 /dev/zero | tr "\\0" a > /tmp/msg; echo -n END >> /tmp/msg'],
            terminationMessagePath: '/tmp/msg',
          },
        ),
      );
      const fallback = await waitFor('fallback', 'Failed', phase('Failed'));
      assert.equal(fallback.status?.containerStatuses?.[0].state?.terminated?.message, 'first\nlast');
      const custom = await waitFor('custom-path', 'Succeeded', phase('Succeeded'));
      const message = custom.status?.containerStatuses?.[0].state?.terminated?.message ?? '';
      assert.equal(message.length, 4096);
      assert.ok(message.endsWith('aEND'));
    });
    await t.test('a memory limit ends in OOMKilled', async () => {
      await create(podSpec('oom', {}, { command: ['tail', '/dev/zero'], resources: { limits: { memory: '32Mi' } } }));
      const pod = await waitFor('oom', 'Failed', phase('Failed'));
      const terminated = pod.status?.containerStatuses?.[0].state?.terminated;
      assert.equal(terminated?.reason, 'OOMKilled');
      assert.equal(terminated?.exitCode, 137);
      assert.equal(pod.status?.qosClass, 'Burstable');
    });
    await t.test('a missing executable is a StartError', async () => {
      await create(podSpec('no-exe', {}, { command: ['/no/such/program'] }));
      const pod = await waitFor('no-exe', 'Failed', phase('Failed'));
      const terminated = pod.status?.containerStatuses?.[0].state?.terminated;
      assert.equal(terminated?.reason, 'StartError');
      assert.equal(terminated?.exitCode, 128);
    });
  });

  test('activeDeadlineSeconds fails the pod with DeadlineExceeded', async () => {
    const started = Date.now();
    await create(podSpec('deadline', { activeDeadlineSeconds: 2 }, { command: ['sleep', '60'] }));
    const pod = await waitFor('deadline', 'Failed', phase('Failed'));
    assert.equal(pod.status?.reason, 'DeadlineExceeded');
    assert.ok(Date.now() - started < 15_000);
    // sleep is PID 1 and ignores SIGTERM, so the grace period ends in SIGKILL.
    assert.equal(pod.status?.containerStatuses?.[0].state?.terminated?.exitCode, 137);
  });

  test('env from Secrets, ConfigMaps and the downward API; configMap, secret and emptyDir volumes', async () => {
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: 'creds' }, stringData: { password: 's3cr3t' } },
    });
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'settings' }, data: { mode: 'fast', 'app.conf': 'x=1\n' } },
    });
    await create(
      podSpec(
        'env',
        {
          volumes: [
            { name: 'cfg', configMap: { name: 'settings' } },
            { name: 'sec', secret: { secretName: 'creds' } },
            { name: 'scratch', emptyDir: {} },
          ],
        },
        {
          command: [
            'sh',
            '-c',
            'echo "$PASSWORD $MODE $POD $GREETING"; cat /etc/cfg/app.conf /etc/sec/password; echo; touch /scratch/w && echo writable',
          ],
          env: [
            { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
            { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'settings', key: 'mode' } } },
            { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'GREETING', value: 'hello-$(POD)' },
          ],
          volumeMounts: [
            { name: 'cfg', mountPath: '/etc/cfg' },
            { name: 'sec', mountPath: '/etc/sec' },
            { name: 'scratch', mountPath: '/scratch' },
          ],
        },
      ),
    );
    await waitFor('env', 'Succeeded', phase('Succeeded'));
    assert.equal(await logs('env'), 's3cr3t fast env hello-env\nx=1\ns3cr3t\nwritable\n');
  });

  test('a missing Secret holds the container in CreateContainerConfigError until it appears', async () => {
    await create(
      podSpec(
        'waits',
        {},
        {
          command: ['sh', '-c', 'echo "$TOKEN"'],
          env: [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'late', key: 'token' } } }],
        },
      ),
    );
    const waiting = await waitFor(
      'waits',
      'waiting',
      (p) => p.status?.containerStatuses?.[0].state?.waiting?.reason === 'CreateContainerConfigError',
    );
    assert.equal(waiting.status?.phase, 'Pending');
    assert.match(waiting.status?.containerStatuses?.[0].state?.waiting?.message ?? '', /secret "late" not found/);
    const described = await cluster.kubectl(['describe', 'pod', '-n', namespace, 'waits']);
    assert.match(described.stdout, /Warning\s+Failed\s+.*Error: secret "late" not found/);
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: 'late' }, stringData: { token: 'now' } },
    });
    await waitFor('waits', 'Succeeded', phase('Succeeded'));
    assert.equal(await logs('waits'), 'now\n');
  });

  test('logs: follow until the container exits, tail, timestamps, previous', async () => {
    await create(
      podSpec('talker', {}, { command: ['sh', '-c', 'for i in 1 2 3 4 5; do echo line $i; sleep 0.3; done'] }),
    );
    await waitFor('talker', 'Running', (p) => p.status?.phase !== 'Pending');
    const followed = await cluster.kubectl(['logs', '-n', namespace, 'talker', '-f']);
    assert.equal(followed.code, 0, followed.stderr);
    assert.equal(followed.stdout, 'line 1\nline 2\nline 3\nline 4\nline 5\n');
    await waitFor('talker', 'Succeeded', terminal);
    assert.equal(await logs('talker', ['--tail=2']), 'line 4\nline 5\n');
    assert.match(await logs('talker', ['--tail=1', '--timestamps']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z line 5\n$/);
  });

  test('restartPolicy OnFailure restarts a failed container; init containers run first', async () => {
    await create(
      podSpec('retry', {
        restartPolicy: 'OnFailure',
        volumes: [{ name: 'state', emptyDir: {} }],
        initContainers: [
          {
            name: 'init',
            image: 'busybox:1.36',
            command: ['sh', '-c', 'echo init > /state/order'],
            volumeMounts: [{ name: 'state', mountPath: '/state' }],
          },
        ],
        containers: [
          {
            name: 'main',
            image: 'busybox:1.36',
            command: [
              'sh',
              '-c',
              'cat /state/order; if [ -f /state/tried ]; then exit 0; fi; touch /state/tried; exit 1',
            ],
            volumeMounts: [{ name: 'state', mountPath: '/state' }],
          },
        ],
      }),
    );
    const pod = await waitFor('retry', 'Succeeded', phase('Succeeded'));
    const status = pod.status?.containerStatuses?.[0];
    assert.equal(status?.restartCount, 1);
    assert.equal(status?.lastState?.terminated?.exitCode, 1);
    assert.equal(pod.status?.initContainerStatuses?.[0].state?.terminated?.reason, 'Completed');
    assert.equal(await logs('retry', ['--previous']), 'init\n');
  });

  test('graceful deletion: SIGTERM first, the pod object goes once its container exits', async () => {
    await create(
      podSpec(
        'graceful',
        { terminationGracePeriodSeconds: 20 },
        { command: ['sh', '-c', 'trap "echo got TERM; exit 0" TERM; echo ready; while :; do sleep 0.1; done'] },
      ),
    );
    await waitFor('graceful', 'Running', phase('Running'));
    for (let i = 0; i < 50 && !(await logs('graceful')).includes('ready'); i++) await sleep(100);
    const started = Date.now();
    const deleted = await cluster.kubectl(['delete', 'pod', '-n', namespace, 'graceful']);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.ok(Date.now() - started < 10_000, 'the trap ended the container long before the grace period');
    await assert.rejects(
      core.readNamespacedPod({ name: 'graceful', namespace }),
      (err: { code?: number }) => err.code === 404,
    );
  });

  test('a privileged hostPID pod sees host processes and mounts the hostPath it asks for', async (t) => {
    if (!cluster.isDevCluster) return t.skip('checks host PIDs of the machine running the test');
    const hostDir = join(scratch, 'host');
    await create(
      podSpec(
        'hostpid',
        { hostPID: true, volumes: [{ name: 'host', hostPath: { path: hostDir, type: 'DirectoryOrCreate' } }] },
        {
          command: [
            'sh',
            '-c',
            `test -d /proc/${process.pid} && echo sees-test-runner; echo ${shellPid} > /host/pid; grep CapEff /proc/self/status`,
          ],
          securityContext: { privileged: true },
          volumeMounts: [{ name: 'host', mountPath: '/host' }],
        },
      ),
    );
    await waitFor('hostpid', 'Succeeded', phase('Succeeded'));
    const [seen, capEff] = (await logs('hostpid')).trim().split('\n');
    assert.equal(seen, 'sees-test-runner');
    assert.notEqual(capEff.split(/\s+/)[1], '0000000000000000');
    assert.notEqual((await readFile(join(hostDir, 'pid'), 'utf8')).trim(), '1');
  });

  test('the tracer image runs this checkout’s tracejob', async (t) => {
    if (!cluster.isDevCluster) return t.skip('the development cluster runs the tracer image from the checkout');
    await create(podSpec('tracer', {}, { image: 'ghcr.io/tracejob/tracejob:dev', args: ['--help'] }));
    const pod = await waitFor('tracer', 'Succeeded', terminal, 60_000);
    const output = await logs('tracer');
    assert.equal(pod.status?.phase, 'Succeeded', output);
    assert.match(output, /Usage: tracejob/);
  });

  test('stopping the development cluster kills every container and removes its cgroups', async (t) => {
    if (!cluster.isDevCluster) return t.skip('stops the development cluster');
    await create(podSpec('survivor', { terminationGracePeriodSeconds: 30 }, { command: ['sleep', '300'] }));
    const running = await waitFor('survivor', 'Running', phase('Running'));
    const cgroup = cgroupPathFor({
      qosClass: 'BestEffort',
      podUID: running.metadata!.uid!,
      containerID: containerHex(running),
      driver: 'cgroupfs',
    });
    const pids = (await readFile(join('/sys/fs/cgroup/memory', cgroup, 'cgroup.procs'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map(Number);
    assert.equal(pids.length, 1);
    await cluster.stop();
    assert.equal(await alive(pids[0]), false);
    for (const root of await cgroupHierarchies()) assert.equal(existsSync(join(root, cgroup)), false);
  });
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';

import { startKubelet } from '../../src/devcluster/kubelet/index.ts';
import { cgroupHierarchies, cgroupPathFor, podCgroupPath } from '../../src/devcluster/runc.ts';
import { useCluster, type TestCluster } from '../support/cluster.ts';
import { needs } from '../support/requirements.ts';

const checkoutDir = fileURLToPath(new URL('../..', import.meta.url));
const fixture = fileURLToPath(new URL('../fixtures/devcluster-kubelet/run-kubelet.ts', import.meta.url));

async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

describe('a kubelet killed hard', needs('root', 'runc'), () => {
  let cluster: TestCluster;
  let core: CoreV1Api;
  let stateDir: string;

  before(async () => {
    cluster = await useCluster({});
    core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    stateDir = await mkdtemp(join(tmpdir(), 'tracejob-kubelet-restart-'));
  });
  after(async () => {
    await cluster?.stop();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  async function waitFor(name: string, ok: (pod: V1Pod) => boolean): Promise<V1Pod> {
    for (let i = 0; i < 300; i++) {
      const pod = await core.readNamespacedPod({ name, namespace: 'default' });
      if (ok(pod)) return pod;
      await sleep(50);
    }
    assert.fail(`pod ${name} did not get there`);
  }

  test('leaves containers that the next kubelet on the same state directory removes, reporting the pod Failed', async (t) => {
    if (!cluster.isDevCluster) return t.skip('kills a development-cluster kubelet');
    const nodeName = cluster.nodeName!;
    const child = spawn(process.execPath, [fixture, cluster.kubeconfigPath, nodeName, stateDir, checkoutDir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
      child.once('exit', (code) => reject(new Error(`the kubelet process exited with ${code}`)));
    });
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: 'orphan' },
        spec: {
          nodeName,
          restartPolicy: 'Never',
          containers: [{ name: 'main', image: 'busybox', command: ['sleep', '300'] }],
        },
      },
    });
    const running = await waitFor('orphan', (p) => p.status?.phase === 'Running');
    const id = running.status!.containerStatuses![0].containerID!.replace('containerd://', '');
    const uid = running.metadata!.uid!;
    const cgroup = cgroupPathFor({ qosClass: 'BestEffort', podUID: uid, containerID: id, driver: 'cgroupfs' });
    const [pid] = (await readFile(join('/sys/fs/cgroup/memory', cgroup, 'cgroup.procs'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map(Number);

    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    assert.ok(await alive(pid), 'the container outlived its kubelet, as with a real runtime');

    const kubelet = await startKubelet({ kubeConfig: cluster.kubeConfig, nodeName, stateDir, checkoutDir });
    try {
      assert.equal(await alive(pid), false, 'the new kubelet removed the leftover container');
      for (const root of await cgroupHierarchies()) {
        assert.equal(existsSync(join(root, cgroup)), false);
        assert.equal(
          existsSync(join(root, podCgroupPath({ qosClass: 'BestEffort', podUID: uid, driver: 'cgroupfs' }))),
          false,
        );
      }
      assert.equal(
        (await readFile('/proc/self/mountinfo', 'utf8')).includes(stateDir),
        false,
        'overlay mounts were left',
      );
      const failed = await waitFor('orphan', (p) => p.status?.phase === 'Failed');
      assert.equal(failed.status?.containerStatuses?.[0].state?.terminated?.reason, 'ContainerStatusUnknown');
      await core.deleteNamespacedPod({ name: 'orphan', namespace: 'default' });
    } finally {
      await kubelet.stop();
    }
  });
});

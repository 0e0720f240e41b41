import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';

import { fakeAnnotations, fakeNodeLabel, fakeNodeNames, fakeOutcome } from '../../src/devcluster/kubelet/fake-nodes.ts';
import { useCluster, type TestCluster } from '../support/cluster.ts';

describe('fake node naming and outcomes', () => {
  test('names are zero-padded to at least four digits', () => {
    assert.deepEqual(fakeNodeNames(3), ['fake-node-0001', 'fake-node-0002', 'fake-node-0003']);
    assert.equal(fakeNodeNames(12345).at(-1), 'fake-node-12345');
    assert.equal(fakeNodeNames(12345)[0], 'fake-node-00001');
  });
  test('annotations choose exit code, message and run time; bad values say which annotation', () => {
    const pod = (annotations: Record<string, string>): V1Pod => ({ metadata: { annotations } });
    assert.deepEqual(fakeOutcome(pod({}), 500), { exitCode: 0, runMs: 500 });
    assert.deepEqual(
      fakeOutcome(
        pod({
          [fakeAnnotations.exitCode]: '2',
          [fakeAnnotations.terminationMessage]: '{"a":1}',
          [fakeAnnotations.runSeconds]: '0.1',
        }),
        500,
      ),
      { exitCode: 2, message: '{"a":1}', runMs: 100 },
    );
    assert.equal(fakeOutcome(pod({ [fakeAnnotations.terminationMessage]: 'x'.repeat(5000) }), 0).message?.length, 4096);
    assert.match(
      fakeOutcome(pod({ [fakeAnnotations.exitCode]: 'nine' }), 0).error ?? '',
      /fake\.tracejob\.dev\/exit-code: "nine"/,
    );
    assert.match(fakeOutcome(pod({ [fakeAnnotations.runSeconds]: '-1' }), 0).error ?? '', /run-seconds/);
  });
});

describe('fake nodes on the development cluster', () => {
  let cluster: TestCluster;
  let core: CoreV1Api;
  const count = 1000;

  before(async () => {
    cluster = await useCluster({ fakeNodes: count });
    core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  });
  after(() => cluster?.stop());

  async function waitFor(name: string, ok: (pod: V1Pod) => boolean): Promise<V1Pod> {
    for (let i = 0; i < 200; i++) {
      const pod = await core.readNamespacedPod({ name, namespace: 'default' });
      if (ok(pod)) return pod;
      await sleep(50);
    }
    assert.fail(`pod ${name} did not get there`);
  }

  test('a thousand Ready nodes are registered', async (t) => {
    if (!cluster.isDevCluster) return t.skip('fake nodes exist only on the development cluster');
    const nodes = await core.listNode({ labelSelector: `${fakeNodeLabel}=true` });
    assert.equal(nodes.items.length, count);
    const names = nodes.items.map((n) => n.metadata?.name).sort();
    assert.deepEqual(names, fakeNodeNames(count));
    for (const node of nodes.items) {
      assert.equal(node.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True', node.metadata?.name);
    }
  });

  test('pods move Pending → Running → Succeeded with the requested termination message', async (t) => {
    if (!cluster.isDevCluster) return t.skip('fake nodes exist only on the development cluster');
    const pods = await Promise.all(
      [1, 500, 1000].map((n, i) =>
        core.createNamespacedPod({
          namespace: 'default',
          body: {
            metadata: {
              name: `fake-${i}`,
              annotations: {
                [fakeAnnotations.terminationMessage]: `{"node":${n}}`,
                [fakeAnnotations.runSeconds]: '0.3',
              },
            },
            spec: {
              nodeName: fakeNodeNames(count)[n - 1],
              restartPolicy: 'Never',
              containers: [{ name: 'main', image: 'busybox' }],
            },
          },
        }),
      ),
    );
    for (const [i, created] of pods.entries()) {
      const running = await waitFor(
        created.metadata!.name!,
        (p) => p.status?.phase === 'Running' || p.status?.phase === 'Succeeded',
      );
      const done = await waitFor(created.metadata!.name!, (p) => p.status?.phase === 'Succeeded');
      assert.match(running.status?.containerStatuses?.[0].containerID ?? '', /^containerd:\/\/[0-9a-f]{64}$/);
      const terminated = done.status?.containerStatuses?.[0].state?.terminated;
      assert.equal(terminated?.reason, 'Completed');
      assert.equal(terminated?.message, `{"node":${[1, 500, 1000][i]}}`);
    }
  });

  test('a non-zero exit code annotation fails the pod; deleting a running pod removes it', async (t) => {
    if (!cluster.isDevCluster) return t.skip('fake nodes exist only on the development cluster');
    const node = fakeNodeNames(count)[41];
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: {
          name: 'fake-fails',
          annotations: { [fakeAnnotations.exitCode]: '3', [fakeAnnotations.runSeconds]: '0' },
        },
        spec: { nodeName: node, restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox' }] },
      },
    });
    const failed = await waitFor('fake-fails', (p) => p.status?.phase === 'Failed');
    assert.equal(failed.status?.containerStatuses?.[0].state?.terminated?.exitCode, 3);

    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: 'fake-forever' },
        spec: { nodeName: node, restartPolicy: 'Always', containers: [{ name: 'main', image: 'busybox' }] },
      },
    });
    await waitFor('fake-forever', (p) => p.status?.phase === 'Running');
    await core.deleteNamespacedPod({ name: 'fake-forever', namespace: 'default' });
    for (let i = 0; i < 100; i++) {
      const gone = await core.readNamespacedPod({ name: 'fake-forever', namespace: 'default' }).then(
        () => false,
        (err: { code?: number }) => err.code === 404,
      );
      if (gone) return;
      await sleep(50);
    }
    assert.fail('the terminating pod on a fake node was never removed');
  });
});

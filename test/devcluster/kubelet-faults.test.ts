import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';

import { useCluster, type TestCluster } from '../support/cluster.ts';
import { needs } from '../support/requirements.ts';

describe('the local kubelet through API-server faults', needs('root', 'runc'), () => {
  let cluster: TestCluster;
  let core: CoreV1Api;

  before(async () => {
    cluster = await useCluster({ kubelet: true });
    core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  });
  after(() => cluster?.stop());

  async function runPod(name: string, script: string): Promise<V1Pod> {
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name },
        spec: {
          restartPolicy: 'Never',
          containers: [{ name: 'main', image: 'busybox', command: ['sh', '-c', script] }],
        },
      },
    });
    for (let i = 0; i < 300; i++) {
      const pod = await core.readNamespacedPod({ name, namespace: 'default' }).catch(() => undefined);
      if (pod?.status?.phase === 'Succeeded' || pod?.status?.phase === 'Failed') return pod;
      await sleep(50);
    }
    assert.fail(`pod ${name} never finished`);
  }

  test('status writes that fail with 500 are retried', async (t) => {
    if (!cluster.faults) return t.skip('fault injection exists only on the development cluster');
    cluster.faults.failRequests({ verb: 'patch', resource: 'pods/status', status: 500, count: 3 });
    const pod = await runPod('after-500', 'printf done > /dev/termination-log');
    assert.equal(pod.status?.phase, 'Succeeded');
    assert.equal(pod.status?.containerStatuses?.[0].state?.terminated?.message, 'done');
    assert.ok(
      (cluster.faults.injected.get('patch pods/status') ?? 0) >= 3,
      JSON.stringify([...cluster.faults.injected]),
    );
  });

  test('dropped pod watches are re-established', async (t) => {
    if (!cluster.faults) return t.skip('fault injection exists only on the development cluster');
    assert.ok(cluster.faults.dropWatches({ resource: 'pods' }) >= 1, 'the kubelet watches pods');
    const pod = await runPod('after-drop', 'exit 0');
    assert.equal(pod.status?.phase, 'Succeeded');
  });

  for (const mode of ['stream', 'http'] as const) {
    test(`expired resourceVersions (${mode}) make the kubelet relist`, async (t) => {
      if (!cluster.faults) return t.skip('fault injection exists only on the development cluster');
      cluster.faults.expireResourceVersions(mode);
      const pod = await runPod(`after-expiry-${mode}`, 'exit 0');
      assert.equal(pod.status?.phase, 'Succeeded');
    });
  }

  test('an API server restart keeping its state', async (t) => {
    if (!cluster.faults) return t.skip('fault injection exists only on the development cluster');
    await cluster.faults.restart();
    const pod = await runPod('after-restart', 'exit 4');
    assert.equal(pod.status?.containerStatuses?.[0].state?.terminated?.exitCode, 4);
  });
});

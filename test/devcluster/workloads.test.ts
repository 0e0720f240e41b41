import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AppsV1Api, PatchStrategy, setHeaderOptions, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { useCluster, type TestCluster } from '../support/cluster.ts';
import { clients, createNamespace, eventually, failure } from './helpers.ts';

// Deployments and ReplicaSets own their pods as kube-controller-manager makes them. Pods are pinned to a node label no
// node has, so they stay Pending on a real cluster too and the test can set their readiness itself.

let cluster: TestCluster;
let c: ReturnType<typeof clients>;
let apps: AppsV1Api;
let ns: string;
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

before(async () => {
  cluster = await useCluster();
  c = clients(cluster.kubeConfig);
  apps = cluster.kubeConfig.makeApiClient(AppsV1Api);
  ns = await createNamespace(c.core, 'workloads');
});

after(async () => {
  await c.core.deleteNamespace({ name: ns }).catch(() => {});
  await cluster.stop();
});

function deployment(name: string, replicas: number, image: string): V1Deployment {
  return {
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { nodeSelector: { 'tracejob.dev/no-such-node': 'true' }, containers: [{ name: 'main', image }] },
      },
    },
  };
}

async function podsOf(app: string): Promise<V1Pod[]> {
  return (await c.core.listNamespacedPod({ namespace: ns, labelSelector: `app=${app}` })).items.filter(
    (p) => !p.metadata?.deletionTimestamp,
  );
}

test(
  'a Deployment makes a ReplicaSet that keeps its replicas, scales, rolls to a new template and reports availability',
  { timeout: 120_000 },
  async () => {
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment('web', 3, 'registry.example/web:1') });
    const pods = await eventually(
      '3 pods',
      async () => ((await podsOf('web')).length === 3 ? podsOf('web') : undefined),
      60_000,
    );
    const rsName = pods[0]?.metadata?.ownerReferences?.find((r) => r.controller)?.name;
    assert.ok(rsName, 'pods are controlled by a ReplicaSet');
    const rs = await apps.readNamespacedReplicaSet({ name: rsName, namespace: ns });
    assert.equal(rs.metadata?.ownerReferences?.[0]?.kind, 'Deployment');
    assert.ok(rs.metadata?.labels?.['pod-template-hash']);
    assert.ok(
      pods.every((p) => p.metadata?.labels?.['pod-template-hash'] === rs.metadata?.labels?.['pod-template-hash']),
    );

    await apps.patchNamespacedDeployment({ name: 'web', namespace: ns, body: { spec: { replicas: 1 } } }, merge);
    const [left] = await eventually(
      '1 pod',
      async () => ((await podsOf('web')).length === 1 ? podsOf('web') : undefined),
      60_000,
    );
    const now = new Date().toISOString();
    await c.core.patchNamespacedPodStatus(
      {
        name: left!.metadata!.name!,
        namespace: ns,
        body: {
          status: {
            phase: 'Running',
            conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now as never }],
          },
        },
      },
      merge,
    );
    await eventually(
      'the deployment to be available',
      async () => {
        const d = await apps.readNamespacedDeployment({ name: 'web', namespace: ns });
        return d.status?.availableReplicas === 1 &&
          d.status.conditions?.some((x) => x.type === 'Available' && x.status === 'True')
          ? d
          : undefined;
      },
      60_000,
    );
    const rollout = await cluster.kubectl(['rollout', 'status', 'deployment/web', '-n', ns, '--timeout=60s']);
    assert.equal(rollout.code, 0, rollout.stderr);
    assert.match(rollout.stdout, /successfully rolled out/);

    await apps.patchNamespacedDeployment(
      {
        name: 'web',
        namespace: ns,
        body: { spec: { template: { spec: { containers: [{ name: 'main', image: 'registry.example/web:2' }] } } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    await eventually(
      'the new template to take over',
      async () => {
        const current = await podsOf('web');
        return current.length === 1 && current[0]?.spec?.containers[0]?.image === 'registry.example/web:2'
          ? true
          : undefined;
      },
      60_000,
    );
    const sets = (await apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: 'app=web' })).items;
    assert.equal(sets.length, 2);
    assert.deepEqual(sets.map((s) => s.spec?.replicas).sort(), [0, 1]);

    await apps.deleteNamespacedDeployment({ name: 'web', namespace: ns });
    await eventually(
      'ReplicaSets and pods to be collected',
      async () => {
        const leftSets = (await apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: 'app=web' })).items
          .length;
        return leftSets === 0 && (await podsOf('web')).length === 0 ? true : undefined;
      },
      60_000,
    );
  },
);

test('a Deployment whose selector does not match its template is refused', async () => {
  const bad = deployment('mismatch', 1, 'registry.example/web:1');
  bad.spec!.selector = { matchLabels: { app: 'other' } };
  const status = await failure(apps.createNamespacedDeployment({ namespace: ns, body: bad }), 422);
  assert.ok(
    status.details?.causes?.some((x) => x.field === 'spec.template.metadata.labels'),
    JSON.stringify(status.details),
  );
});

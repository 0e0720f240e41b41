import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { makeInformer, type V1ConfigMap } from '@kubernetes/client-node';
import { useCluster, type TestCluster } from '../support/cluster.ts';
import { clients, collectWatch, createNamespace, eventually, failure, uniqueName } from './helpers.ts';

// Fault injection exists only in the development cluster: on a real cluster every test here skips.

let cluster: TestCluster;
let c: ReturnType<typeof clients>;
let ns: string;

before(async () => {
  cluster = await useCluster();
  c = clients(cluster.kubeConfig);
  ns = await createNamespace(c.core, 'faults');
});

after(async () => {
  await c.core.deleteNamespace({ name: ns }).catch(() => {});
  await cluster.stop();
});

function devOnly(t: { skip(message: string): void }): NonNullable<TestCluster['faults']> | undefined {
  if (!cluster.faults) {
    t.skip('needs fault injection (development cluster only)');
    return undefined;
  }
  cluster.faults.reset();
  return cluster.faults;
}

test('500 and 429 (with Retry-After) are answered to the chosen requests, then service resumes', async (t) => {
  const faults = devOnly(t);
  if (!faults) return;
  faults.failRequests({ verb: 'list', resource: 'configmaps', status: 500, count: 2 });
  await failure(c.core.listNamespacedConfigMap({ namespace: ns }), 500);
  const second = await failure(c.core.listNamespacedConfigMap({ namespace: ns }), 500);
  assert.equal(second.reason, 'InternalError');
  await c.core.listNamespacedConfigMap({ namespace: ns });
  await c.core.listNamespacedSecret({ namespace: ns });
  faults.failRequests({ verb: 'create', resource: 'configmaps', status: 429, retryAfterSeconds: 3 });
  const raw = await cluster.request('POST', `/api/v1/namespaces/${ns}/configmaps`, {
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ metadata: { name: 'throttled' } }),
  });
  assert.equal(raw.status, 429);
  assert.equal(raw.headers['retry-after'], '3');
  assert.equal(raw.json<{ reason: string; details: { retryAfterSeconds: number } }>().details.retryAfterSeconds, 3);
  await failure(c.core.readNamespacedConfigMap({ name: 'throttled', namespace: ns }), 404);
  await c.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'throttled' } } });
});

test('a subresource can be failed on its own (pods/status)', async (t) => {
  const faults = devOnly(t);
  if (!faults) return;
  const pod = await c.core.createNamespacedPod({
    namespace: ns,
    body: { metadata: { name: uniqueName('p') }, spec: { containers: [{ name: 'a', image: 'x/y:1' }] } },
  });
  faults.failRequests({ verb: 'patch', resource: 'pods/status', status: 500 });
  const patch = { status: { phase: 'Running' } };
  const { setHeaderOptions } = await import('@kubernetes/client-node');
  const opts = setHeaderOptions('Content-Type', 'application/merge-patch+json');
  await c.core.patchNamespacedPod(
    { name: pod.metadata!.name!, namespace: ns, body: { metadata: { labels: { fine: 'yes' } } } },
    opts,
  );
  await failure(c.core.patchNamespacedPodStatus({ name: pod.metadata!.name!, namespace: ns, body: patch }, opts), 500);
  const ok = await c.core.patchNamespacedPodStatus({ name: pod.metadata!.name!, namespace: ns, body: patch }, opts);
  assert.equal(ok.status?.phase, 'Running');
});

test('dropped watches are cut (the client sees an error); closed watches end cleanly', async (t) => {
  const faults = devOnly(t);
  if (!faults) return;
  const dropped = await collectWatch(cluster.kubeConfig, `/api/v1/namespaces/${ns}/configmaps`, {});
  const closed = await collectWatch(cluster.kubeConfig, `/api/v1/namespaces/${ns}/secrets`, {});
  await eventually('watches registered', () => faults.closeWatches({ resource: 'nothing-matches' }) === 0 || undefined);
  assert.equal(faults.dropWatches({ resource: 'configmaps' }), 1);
  assert.notEqual(await dropped.ended, null, 'a dropped watch ends with an error');
  assert.equal(faults.closeWatches({ resource: 'secrets' }), 1);
  assert.equal(await closed.ended, null, 'a closed watch ends cleanly');
});

test('a watch request can be answered 500', async (t) => {
  const faults = devOnly(t);
  if (!faults) return;
  faults.failRequests({ verb: 'watch', resource: 'configmaps', status: 500 });
  const w = await collectWatch(cluster.kubeConfig, `/api/v1/namespaces/${ns}/configmaps`, {}).catch((err: unknown) => ({
    ended: Promise.resolve(err),
    events: [],
  }));
  const err = (await w.ended) as { statusCode?: number; code?: number } | null;
  assert.ok(err && (err.statusCode === 500 || err.code === 500), `expected a 500, got ${String(err)}`);
  const next = await collectWatch(cluster.kubeConfig, `/api/v1/namespaces/${ns}/configmaps`, { timeoutSeconds: 1 });
  assert.equal(await next.ended, null, 'the following watch works');
});

test('silenced watches stay open but deliver nothing; new watches work', async (t) => {
  const faults = devOnly(t);
  if (!faults) return;
  const rv = (await c.core.listNamespacedConfigMap({ namespace: ns })).metadata!.resourceVersion!;
  const silent = await collectWatch(cluster.kubeConfig, `/api/v1/namespaces/${ns}/configmaps`, { resourceVersion: rv });
  assert.equal(faults.silenceWatches({ resource: 'configmaps' }), 1);
  const fresh = await collectWatch(cluster.kubeConfig, `/api/v1/namespaces/${ns}/configmaps`, { resourceVersion: rv });
  await c.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: uniqueName('quiet') } } });
  await eventually('the fresh watch to see it', () => fresh.events.length >= 1);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(silent.events.length, 0);
  silent.stop();
  fresh.stop();
});

test('an informer survives forced 410s (in-stream and HTTP) by relisting, and sees later changes', async (t) => {
  const faults = devOnly(t);
  if (!faults) return;
  const path = `/api/v1/namespaces/${ns}/configmaps`;
  const informer = makeInformer<V1ConfigMap>(
    cluster.kubeConfig,
    path,
    () => c.core.listNamespacedConfigMap({ namespace: ns, labelSelector: 'inf=yes' }),
    'inf=yes',
  );
  const errors: unknown[] = [];
  informer.on('error', (err) => errors.push(err));
  await informer.start();
  t.after(() => informer.stop());
  const names = () =>
    informer
      .list()
      .map((x) => x.metadata!.name)
      .sort();
  await c.core.createNamespacedConfigMap({
    namespace: ns,
    body: { metadata: { name: 'inf-1', labels: { inf: 'yes' } } },
  });
  await eventually('inf-1 in the cache', () => names().includes('inf-1') || undefined);
  faults.expireResourceVersions('stream');
  await c.core.createNamespacedConfigMap({
    namespace: ns,
    body: { metadata: { name: 'inf-2', labels: { inf: 'yes' } } },
  });
  await eventually('inf-2 after the in-stream 410', () => names().includes('inf-2') || undefined, 15_000);
  faults.expireResourceVersions('http');
  await c.core.createNamespacedConfigMap({
    namespace: ns,
    body: { metadata: { name: 'inf-3', labels: { inf: 'yes' } } },
  });
  await c.core.deleteNamespacedConfigMap({ name: 'inf-1', namespace: ns });
  await eventually(
    'inf-3 and the deletion after the HTTP 410',
    () => (JSON.stringify(names()) === JSON.stringify(['inf-2', 'inf-3']) ? true : undefined),
    15_000,
  );
  assert.deepEqual(errors, []);
});

test('a list continuation from an expired resourceVersion is 410 Expired', async (t) => {
  const faults = devOnly(t);
  if (!faults) return;
  for (let i = 0; i < 3; i++)
    await c.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: uniqueName('pg'), labels: { pg: 'x' } } },
    });
  const page = await c.core.listNamespacedConfigMap({ namespace: ns, labelSelector: 'pg=x', limit: 1 });
  assert.ok(page.metadata?._continue);
  faults.expireResourceVersions('http');
  const status = await failure(
    c.core.listNamespacedConfigMap({
      namespace: ns,
      labelSelector: 'pg=x',
      limit: 1,
      _continue: page.metadata._continue,
    }),
    410,
  );
  assert.equal(status.reason, 'Expired');
});

test('a restart keeps every acknowledged object and the resourceVersion keeps moving forward', async (t) => {
  const faults = devOnly(t);
  if (!faults) return;
  const names = Array.from({ length: 20 }, () => uniqueName('keep'));
  await Promise.all(
    names.map((name) =>
      c.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name }, data: { v: name } } }),
    ),
  );
  const before = await c.core.readNamespacedConfigMap({ name: names[0]!, namespace: ns });
  await c.core.deleteNamespacedConfigMap({ name: names[1]!, namespace: ns });
  await faults.restart();
  const list = await c.core.listNamespacedConfigMap({ namespace: ns });
  const present = new Set(list.items.map((x) => x.metadata!.name));
  for (const name of names.filter((_, i) => i !== 1)) assert.ok(present.has(name), `${name} survived the restart`);
  assert.ok(!present.has(names[1]), 'a deletion survives the restart too');
  const after = await c.core.readNamespacedConfigMap({ name: names[0]!, namespace: ns });
  assert.equal(after.metadata?.uid, before.metadata?.uid);
  const updated = await c.core.replaceNamespacedConfigMap({
    name: names[0]!,
    namespace: ns,
    body: { ...after, data: { v: 'changed' } },
  });
  assert.ok(!names.includes(updated.metadata!.resourceVersion!));
  const stale = await failure(
    c.core.replaceNamespacedConfigMap({ name: names[0]!, namespace: ns, body: { ...after, data: { v: 'stale' } } }),
    409,
  );
  assert.equal(stale.reason, 'Conflict', 'resourceVersions from before the restart still conflict correctly');
});

test('faults are also reachable over HTTP at /_devcluster/faults', async (t) => {
  if (!devOnly(t)) return;
  const arm = await cluster.request('POST', '/_devcluster/faults/fail-requests', {
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ verb: 'get', resource: 'namespaces', status: 503 }),
  });
  assert.equal(arm.status, 200);
  await failure(c.core.readNamespace({ name: ns }), 503);
  await c.core.readNamespace({ name: ns });
  const bad = await cluster.request('POST', '/_devcluster/faults/fail-requests', {
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ status: 418 }),
  });
  assert.equal(bad.status, 400);
  const restart = await cluster.request('POST', '/_devcluster/faults/restart');
  assert.equal(restart.status, 202);
  await eventually(
    'the server back after an HTTP-triggered restart',
    async () => (await c.core.readNamespace({ name: ns })) ?? undefined,
  );
});

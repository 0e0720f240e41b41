import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setHeaderOptions, type V1ConfigMap, type V1Pod } from '@kubernetes/client-node';
import { useCluster, type TestCluster } from '../support/cluster.ts';
import {
  clients,
  collectWatch,
  createCrd,
  mergePatch,
  createNamespace,
  ensureWidgetCrd,
  eventually,
  failure,
  uniqueName,
  widgets,
  type StatusBody,
} from './helpers.ts';

// One test per rule of KUBE-FIDELITY.md, over HTTP with @kubernetes/client-node. Runs unchanged on a real cluster
// (TRACEJOB_E2E_KUBECONFIG=1); the tests that need fault injection skip there.

let cluster: TestCluster;
let c: ReturnType<typeof clients>;
let ns: string;

type Widget = {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown> & { name: string; resourceVersion?: string; generation?: number };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
};

before(async () => {
  cluster = await useCluster({ bookmarkIntervalMs: 300 });
  c = clients(cluster.kubeConfig);
  ns = await createNamespace(c.core, 'fidelity');
  await ensureWidgetCrd(cluster, c.crds);
});

after(async () => {
  await c.core.deleteNamespace({ name: ns }).catch(() => {});
  await cluster.stop();
});

function configMap(
  name: string,
  data: Record<string, string> = { a: '1' },
  labels?: Record<string, string>,
): V1ConfigMap {
  return { metadata: { name, labels }, data };
}

function widget(name: string, spec: Record<string, unknown> = { size: 3 }): Widget {
  return { apiVersion: 'example.tracejob.dev/v1', kind: 'Widget', metadata: { name }, spec };
}

async function createWidget(body: Widget): Promise<Widget> {
  return (await c.custom.createNamespacedCustomObject({ ...widgets, namespace: ns, body })) as Widget;
}

describe('storage and concurrency', () => {
  test('resourceVersion is an opaque string from one counter, bumped by every write of any kind', async () => {
    const a = await c.core.createNamespacedConfigMap({ namespace: ns, body: configMap(uniqueName('rv')) });
    const s = await c.core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: uniqueName('rv') }, stringData: { k: 'v' } },
    });
    assert.equal(typeof a.metadata?.resourceVersion, 'string');
    assert.notEqual(a.metadata?.resourceVersion, s.metadata?.resourceVersion);
    const updated = await c.core.replaceNamespacedConfigMap({
      name: a.metadata!.name!,
      namespace: ns,
      body: { ...a, data: { a: '2' } },
    });
    assert.notEqual(updated.metadata?.resourceVersion, a.metadata?.resourceVersion);
    const list = await c.core.listNamespacedConfigMap({ namespace: ns });
    assert.equal(typeof list.metadata?.resourceVersion, 'string');
    assert.ok(list.metadata?.resourceVersion);
  });

  test('an update with a stale resourceVersion is a 409 Conflict', async () => {
    const a = await c.core.createNamespacedConfigMap({ namespace: ns, body: configMap(uniqueName('stale')) });
    await c.core.replaceNamespacedConfigMap({
      name: a.metadata!.name!,
      namespace: ns,
      body: { ...a, data: { a: '2' } },
    });
    const status = await failure(
      c.core.replaceNamespacedConfigMap({ name: a.metadata!.name!, namespace: ns, body: { ...a, data: { a: '3' } } }),
      409,
    );
    assert.equal(status.reason, 'Conflict');
    const now = await c.core.readNamespacedConfigMap({ name: a.metadata!.name!, namespace: ns });
    assert.deepEqual(now.data, { a: '2' });
  });

  test('custom resources refuse an unconditional update (no resourceVersion)', async () => {
    const w = await createWidget(widget(uniqueName('uncond')));
    const body = { ...w, metadata: { ...w.metadata, resourceVersion: undefined }, spec: { size: 9 } };
    const status = await failure(
      c.custom.replaceNamespacedCustomObject({ ...widgets, namespace: ns, name: w.metadata.name, body }),
      422,
    );
    assert.equal(status.reason, 'Invalid');
    assert.ok(
      status.details?.causes?.some((x) => x.field === 'metadata.resourceVersion'),
      JSON.stringify(status),
    );
  });

  test('a merge patch carrying a stale metadata.resourceVersion is a 409 precondition failure', async () => {
    const a = await c.core.createNamespacedConfigMap({ namespace: ns, body: configMap(uniqueName('mp')) });
    await c.core.patchNamespacedConfigMap(
      { name: a.metadata!.name!, namespace: ns, body: { data: { a: 'fresh' } } },
      mergePatch(),
    );
    const status = await failure(
      c.core.patchNamespacedConfigMap(
        {
          name: a.metadata!.name!,
          namespace: ns,
          body: { metadata: { resourceVersion: a.metadata!.resourceVersion }, data: { a: 'late' } },
        },
        mergePatch(),
      ),
      409,
    );
    assert.equal(status.reason, 'Conflict');
  });

  test('create with an existing name is 409 AlreadyExists; generateName appends 5 random lower-case alphanumerics', async () => {
    const name = uniqueName('dup');
    await c.core.createNamespacedConfigMap({ namespace: ns, body: configMap(name) });
    const status = await failure(c.core.createNamespacedConfigMap({ namespace: ns, body: configMap(name) }), 409);
    assert.equal(status.reason, 'AlreadyExists');
    assert.equal(status.details?.name, name);
    const generated = await c.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { generateName: 'gen-' }, data: {} },
    });
    assert.match(generated.metadata!.name!, /^gen-[a-z0-9]{5}$/);
  });

  test('uid and creationTimestamp are set by the server; generation starts at 1 and moves only with the spec', async () => {
    const created = await createWidget({
      ...widget(uniqueName('gen')),
      metadata: { name: uniqueName('gen'), uid: 'client-chosen' } as never,
    });
    assert.match(String(created.metadata.uid), /^[0-9a-f-]{36}$/);
    assert.notEqual(created.metadata.uid, 'client-chosen');
    assert.ok(!Number.isNaN(Date.parse(String(created.metadata.creationTimestamp))));
    assert.equal(created.metadata.generation, 1);
    const name = created.metadata.name;
    const labelled = (await c.custom.patchNamespacedCustomObject(
      { ...widgets, namespace: ns, name, body: { metadata: { labels: { x: 'y' } } } },
      mergePatch(),
    )) as Widget;
    assert.equal(labelled.metadata.generation, 1, 'a metadata change must not bump generation');
    const statused = (await c.custom.patchNamespacedCustomObjectStatus(
      { ...widgets, namespace: ns, name, body: { status: { phase: 'Ready' } } },
      mergePatch(),
    )) as Widget;
    assert.equal(statused.metadata.generation, 1, 'a status change must not bump generation');
    const respecced = (await c.custom.patchNamespacedCustomObject(
      { ...widgets, namespace: ns, name, body: { spec: { size: 4 } } },
      mergePatch(),
    )) as Widget;
    assert.equal(respecced.metadata.generation, 2);
  });

  test('errors are Status objects with reason, code, message and details', async () => {
    const status = await failure(c.core.readNamespacedConfigMap({ name: 'does-not-exist', namespace: ns }), 404);
    assert.equal(status.reason, 'NotFound');
    assert.match(status.message, /configmaps "does-not-exist" not found/);
    assert.equal(status.details?.name, 'does-not-exist');
    assert.equal(status.details?.kind, 'configmaps');
  });

  test('names, labels and annotations are validated (422 with the field)', async () => {
    const badName = await failure(
      c.core.createNamespacedConfigMap({ namespace: ns, body: configMap('Not_Valid') }),
      422,
    );
    assert.equal(badName.reason, 'Invalid');
    assert.ok(badName.details?.causes?.some((x) => x.field === 'metadata.name'));
    const dottedNamespace = await failure(c.core.createNamespace({ body: { metadata: { name: 'has.dots' } } }), 422);
    assert.ok(
      dottedNamespace.details?.causes?.some((x) => x.field === 'metadata.name'),
      'namespaces need a DNS-1123 label',
    );
    const longLabel = await failure(
      c.core.createNamespacedConfigMap({ namespace: ns, body: configMap(uniqueName('l'), {}, { k: 'x'.repeat(64) }) }),
      422,
    );
    assert.ok(longLabel.details?.causes?.some((x) => x.field === 'metadata.labels'));
    const badKey = await failure(
      c.core.createNamespacedConfigMap({ namespace: ns, body: configMap(uniqueName('l'), {}, { '-bad': 'x' }) }),
      422,
    );
    assert.ok(badKey.details?.causes?.some((x) => x.field === 'metadata.labels'));
    const huge = await failure(
      c.core.createNamespacedConfigMap({
        namespace: ns,
        body: { metadata: { name: uniqueName('a'), annotations: { big: 'x'.repeat(256 * 1024 + 1) } } },
      }),
      422,
    );
    assert.ok(huge.details?.causes?.some((x) => x.field === 'metadata.annotations'));
  });
});

function setHeader(type: string) {
  return setHeaderOptions('Content-Type', type);
}

describe('lists and watches', () => {
  test('lists carry a resourceVersion and filter by label selectors (equality and set-based)', async () => {
    const tag = uniqueName('sel');
    for (const [i, tier] of ['web', 'db', 'cache'].entries())
      await c.core.createNamespacedConfigMap({ namespace: ns, body: configMap(`${tag}-${i}`, {}, { tag, tier }) });
    const names = async (labelSelector: string) =>
      (await c.core.listNamespacedConfigMap({ namespace: ns, labelSelector })).items
        .map((x) => x.metadata!.name)
        .sort();
    assert.deepEqual(await names(`tag=${tag},tier=web`), [`${tag}-0`]);
    assert.deepEqual(await names(`tag=${tag},tier!=web`), [`${tag}-1`, `${tag}-2`]);
    assert.deepEqual(await names(`tag=${tag},tier in (db,cache)`), [`${tag}-1`, `${tag}-2`]);
    assert.deepEqual(await names(`tag=${tag},tier notin (db)`), [`${tag}-0`, `${tag}-2`]);
    assert.deepEqual(await names(`tag=${tag},!nothere`), [`${tag}-0`, `${tag}-1`, `${tag}-2`]);
  });

  test('field selectors: metadata.name/namespace everywhere, spec.nodeName and status.phase for pods, others are 400', async () => {
    const name = uniqueName('fs');
    await c.core.createNamespacedConfigMap({ namespace: ns, body: configMap(name) });
    const byName = await c.core.listNamespacedConfigMap({ namespace: ns, fieldSelector: `metadata.name=${name}` });
    assert.deepEqual(
      byName.items.map((x) => x.metadata!.name),
      [name],
    );
    const all = await c.core.listConfigMapForAllNamespaces({
      fieldSelector: `metadata.namespace=${ns},metadata.name=${name}`,
    });
    assert.equal(all.items.length, 1);
    const pod = await c.core.createNamespacedPod({
      namespace: ns,
      body: pendingPod(uniqueName('fsp'), 'no-such-node'),
    });
    const onNode = await c.core.listNamespacedPod({
      namespace: ns,
      fieldSelector: 'spec.nodeName=no-such-node,status.phase=Pending',
    });
    assert.deepEqual(
      onNode.items.map((p) => p.metadata!.name),
      [pod.metadata!.name],
    );
    const bad = await failure(c.core.listNamespacedConfigMap({ namespace: ns, fieldSelector: 'data.a=1' }), 400);
    assert.equal(bad.reason, 'BadRequest');
  });

  test('limit and continue page through a list, each object exactly once', async () => {
    const tag = uniqueName('page');
    for (let i = 0; i < 7; i++)
      await c.core.createNamespacedConfigMap({ namespace: ns, body: configMap(`${tag}-${i}`, {}, { page: tag }) });
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await c.core.listNamespacedConfigMap({
        namespace: ns,
        labelSelector: `page=${tag}`,
        limit: 3,
        _continue: token,
      });
      seen.push(...page.items.map((x) => x.metadata!.name!));
      token = page.metadata?._continue || undefined;
      pages++;
      assert.ok(page.items.length <= 3);
    } while (token);
    assert.equal(pages, 3);
    assert.deepEqual(seen.sort(), Array.from({ length: 7 }, (_, i) => `${tag}-${i}`).sort());
  });

  test('a watch without resourceVersion starts with ADDED for each object; from a resourceVersion it sends only later events', async () => {
    const tag = uniqueName('w');
    await c.core.createNamespacedConfigMap({ namespace: ns, body: configMap(`${tag}-old`, {}, { w: tag }) });
    const listed = await c.core.listNamespacedConfigMap({ namespace: ns, labelSelector: `w=${tag}` });
    const fromStart = await collectWatch(cluster.kubeConfig, `/api/v1/namespaces/${ns}/configmaps`, {
      labelSelector: `w=${tag}`,
    });
    const fromRv = await collectWatch(cluster.kubeConfig, `/api/v1/namespaces/${ns}/configmaps`, {
      labelSelector: `w=${tag}`,
      resourceVersion: listed.metadata!.resourceVersion,
    });
    await c.core.createNamespacedConfigMap({ namespace: ns, body: configMap(`${tag}-new`, {}, { w: tag }) });
    await eventually(
      'both watches to see the new object',
      () => fromStart.events.length >= 2 && fromRv.events.length >= 1,
    );
    fromStart.stop();
    fromRv.stop();
    assert.deepEqual(
      fromStart.events.map((e) => `${e.type} ${String(e.object.metadata?.name)}`),
      [`ADDED ${tag}-old`, `ADDED ${tag}-new`],
    );
    assert.deepEqual(
      fromRv.events.map((e) => `${e.type} ${String(e.object.metadata?.name)}`),
      [`ADDED ${tag}-new`],
    );
  });

  test('a watch from an expired resourceVersion gets 410: in-stream ERROR and HTTP 410 can both be forced', async (t) => {
    if (!cluster.faults) return t.skip('needs fault injection (development cluster only)');
    const listed = await c.core.listNamespacedConfigMap({ namespace: ns });
    const old = listed.metadata!.resourceVersion!;
    await c.core.createNamespacedConfigMap({ namespace: ns, body: configMap(uniqueName('exp')) });
    cluster.faults.expireResourceVersions('stream');
    const stream = await collectWatch(cluster.kubeConfig, `/api/v1/namespaces/${ns}/configmaps`, {
      resourceVersion: old,
    });
    await stream.ended;
    assert.equal(stream.events[0]?.type, 'ERROR');
    assert.equal(stream.events[0]?.object.code, 410);
    assert.equal(stream.events[0]?.object.reason, 'Expired');
    cluster.faults.expireResourceVersions('http');
    const raw = await cluster.request('GET', `/api/v1/namespaces/${ns}/configmaps?watch=true&resourceVersion=${old}`);
    assert.equal(raw.status, 410);
    assert.equal(raw.json<StatusBody>().reason, 'Expired');
    cluster.faults.reset();
  });

  test('timeoutSeconds ends the stream cleanly', async () => {
    const started = Date.now();
    const w = await collectWatch(cluster.kubeConfig, `/api/v1/namespaces/${ns}/configmaps`, { timeoutSeconds: 1 });
    const err = await w.ended;
    assert.equal(err, null, `the stream must end without an error, got ${String(err)}`);
    assert.ok(Date.now() - started >= 900);
  });

  test(
    'allowWatchBookmarks=true brings BOOKMARK events carrying only kind, apiVersion and metadata.resourceVersion',
    { timeout: 90_000 },
    async () => {
      const w = await collectWatch(cluster.kubeConfig, `/api/v1/namespaces/${ns}/configmaps`, {
        allowWatchBookmarks: true,
        resourceVersion: (await c.core.listNamespacedConfigMap({ namespace: ns })).metadata!.resourceVersion,
      });
      const bookmark = await eventually('a bookmark', () => w.events.find((e) => e.type === 'BOOKMARK'), 75_000);
      w.stop();
      assert.deepEqual(Object.keys(bookmark.object).sort(), ['apiVersion', 'kind', 'metadata']);
      assert.equal(bookmark.object.kind, 'ConfigMap');
      assert.deepEqual(
        Object.keys(bookmark.object.metadata ?? {}).filter((k) => k !== 'annotations' && k !== 'creationTimestamp'),
        ['resourceVersion'],
      );
    },
  );

  test('an object that stops matching the selector is delivered as DELETED', async () => {
    const name = uniqueName('leave');
    await c.core.createNamespacedConfigMap({ namespace: ns, body: configMap(name, {}, { keep: 'yes' }) });
    const w = await collectWatch(cluster.kubeConfig, `/api/v1/namespaces/${ns}/configmaps`, {
      labelSelector: 'keep=yes',
      fieldSelector: `metadata.name=${name}`,
    });
    await eventually('the initial ADDED', () => w.events.length >= 1);
    await c.core.patchNamespacedConfigMap(
      { name, namespace: ns, body: { metadata: { labels: { keep: 'no' } } } },
      mergePatch(),
    );
    await eventually('DELETED', () => w.events.find((e) => e.type === 'DELETED'));
    w.stop();
    assert.deepEqual(
      w.events.map((e) => e.type),
      ['ADDED', 'DELETED'],
    );
  });
});

function pendingPod(name: string, nodeName?: string): V1Pod {
  return {
    metadata: { name },
    spec: { nodeName, containers: [{ name: 'main', image: 'example.invalid/app:1', command: ['sleep', '30'] }] },
  };
}

describe('subresources', () => {
  test('/status: writes to the main resource ignore .status, writes to /status ignore everything else', async () => {
    const w = await createWidget({ ...widget(uniqueName('st')), status: { phase: 'FromCreate' } });
    assert.equal(w.status, undefined, 'create ignores status when /status exists');
    const name = w.metadata.name;
    const main = (await c.custom.patchNamespacedCustomObject(
      { ...widgets, namespace: ns, name, body: { spec: { size: 5 }, status: { phase: 'FromMain' } } },
      mergePatch(),
    )) as Widget;
    assert.equal(main.status, undefined);
    assert.equal(main.spec?.size, 5);
    const st = (await c.custom.patchNamespacedCustomObjectStatus(
      { ...widgets, namespace: ns, name, body: { spec: { size: 50 }, status: { phase: 'Ready' } } },
      mergePatch(),
    )) as Widget;
    assert.equal(st.status?.phase, 'Ready');
    assert.equal(st.spec?.size, 5, '/status must ignore spec');
    const pod = await c.core.createNamespacedPod({ namespace: ns, body: pendingPod(uniqueName('stp')) });
    assert.equal(pod.status?.phase, 'Pending');
    const podStatus = await c.core.patchNamespacedPodStatus(
      {
        name: pod.metadata!.name!,
        namespace: ns,
        body: { status: { phase: 'Running' }, metadata: { labels: { sneaky: 'x' } } },
      },
      setHeader('application/merge-patch+json'),
    );
    assert.equal(podStatus.status?.phase, 'Running');
    assert.equal(podStatus.metadata?.labels?.sneaky, undefined);
  });

  test("a CRD's subresources.status decides whether /status exists", async (t) => {
    const crdName = 'gadgets.example.tracejob.dev';
    await createCrd(cluster, {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: crdName },
      spec: {
        group: 'example.tracejob.dev',
        scope: 'Namespaced',
        names: { plural: 'gadgets', kind: 'Gadget' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
          },
        ],
      },
    });
    t.after(() => c.crds.deleteCustomResourceDefinition({ name: crdName }).catch(() => {}));
    await eventually(
      'gadgets served',
      async () =>
        (await cluster.request('GET', `/apis/example.tracejob.dev/v1/namespaces/${ns}/gadgets`)).status === 200 ||
        undefined,
    );
    const g = {
      apiVersion: 'example.tracejob.dev/v1',
      kind: 'Gadget',
      metadata: { name: 'g1' },
      spec: { a: 1 },
      status: { phase: 'kept' },
    };
    const created = (await c.custom.createNamespacedCustomObject({
      group: 'example.tracejob.dev',
      version: 'v1',
      plural: 'gadgets',
      namespace: ns,
      body: g,
    })) as Widget;
    assert.equal(created.status?.phase, 'kept', 'without the status subresource, status is an ordinary field');
    const raw = await cluster.request('GET', `/apis/example.tracejob.dev/v1/namespaces/${ns}/gadgets/g1/status`);
    assert.equal(raw.status, 404);
  });
});

describe('pods and events', () => {
  test('pods/binding assigns an unscheduled pod to a node once; pods/eviction deletes it', async () => {
    const name = uniqueName('bind');
    await c.core.createNamespacedPod({ namespace: ns, body: pendingPod(name) });
    await c.core.createNamespacedPodBinding({
      name,
      namespace: ns,
      body: { metadata: { name }, target: { kind: 'Node', name: 'node-a' } },
    });
    const bound = await c.core.readNamespacedPod({ name, namespace: ns });
    assert.equal(bound.spec?.nodeName, 'node-a');
    assert.ok(bound.status?.conditions?.some((x) => x.type === 'PodScheduled' && x.status === 'True'));
    const again = await failure(
      c.core.createNamespacedPodBinding({
        name,
        namespace: ns,
        body: { metadata: { name }, target: { kind: 'Node', name: 'node-b' } },
      }),
      409,
    );
    assert.equal(again.reason, 'Conflict');
    const unbound = uniqueName('evict');
    await c.core.createNamespacedPod({ namespace: ns, body: pendingPod(unbound) });
    await c.core.createNamespacedPodEviction({
      name: unbound,
      namespace: ns,
      body: { metadata: { name: unbound, namespace: ns } },
    });
    await failure(c.core.readNamespacedPod({ name: unbound, namespace: ns }), 404);
  });

  test('a pod bound to a node is deleted gracefully: deletionTimestamp first, gone once deleted with grace 0', async () => {
    const name = uniqueName('grace');
    await c.core.createNamespacedPod({
      namespace: ns,
      body: {
        ...pendingPod(name, 'node-without-kubelet'),
        spec: { ...pendingPod(name, 'node-without-kubelet').spec!, terminationGracePeriodSeconds: 20 },
      },
    });
    await c.core.deleteNamespacedPod({ name, namespace: ns });
    const terminating = await c.core.readNamespacedPod({ name, namespace: ns });
    assert.ok(terminating.metadata?.deletionTimestamp);
    assert.equal(terminating.metadata?.deletionGracePeriodSeconds, 20);
    await c.core.deleteNamespacedPod({ name, namespace: ns, gracePeriodSeconds: 0 });
    await failure(c.core.readNamespacedPod({ name, namespace: ns }), 404);
  });

  test('events written through events.k8s.io/v1 are read through core/v1 (one storage), selectable by involvedObject', async () => {
    const { EventsV1Api } = await import('@kubernetes/client-node');
    const events = cluster.kubeConfig.makeApiClient(EventsV1Api);
    const regarding = { kind: 'ConfigMap', namespace: ns, name: uniqueName('regarding'), apiVersion: 'v1' };
    await events.createNamespacedEvent({
      namespace: ns,
      body: {
        metadata: { name: uniqueName('ev') },
        eventTime: new Date() as never,
        reportingController: 'tracejob.dev/test',
        reportingInstance: 'test-1',
        action: 'Testing',
        reason: 'Checked',
        note: 'written as events.k8s.io',
        type: 'Normal',
        regarding,
      },
    });
    const core = await c.core.listNamespacedEvent({
      namespace: ns,
      fieldSelector: `involvedObject.name=${regarding.name},involvedObject.kind=ConfigMap`,
    });
    assert.equal(core.items.length, 1);
    assert.equal(core.items[0]?.message, 'written as events.k8s.io');
    assert.equal(core.items[0]?.involvedObject.name, regarding.name);
    assert.equal(core.items[0]?.reportingComponent, 'tracejob.dev/test');
  });
});

describe('deletion', () => {
  test('finalizers: DELETE sets deletionTimestamp and answers the object; removal (DELETED) waits for empty finalizers', async () => {
    const name = uniqueName('fin');
    const created = await c.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name, finalizers: ['example.tracejob.dev/hold'] }, data: {} },
    });
    const w = await collectWatch(cluster.kubeConfig, `/api/v1/namespaces/${ns}/configmaps`, {
      fieldSelector: `metadata.name=${name}`,
      resourceVersion: created.metadata!.resourceVersion,
    });
    const raw = await cluster.request('DELETE', `/api/v1/namespaces/${ns}/configmaps/${name}`);
    assert.equal(raw.status, 200);
    const deleting = raw.json<V1ConfigMap>();
    assert.equal(deleting.kind, 'ConfigMap');
    assert.ok(deleting.metadata?.deletionTimestamp);
    assert.equal(deleting.metadata?.deletionGracePeriodSeconds, 0);
    const still = await c.core.readNamespacedConfigMap({ name, namespace: ns });
    assert.ok(still.metadata?.deletionTimestamp);
    const added = await failure(
      c.core.patchNamespacedConfigMap(
        {
          name,
          namespace: ns,
          body: { metadata: { finalizers: ['example.tracejob.dev/hold', 'example.tracejob.dev/more'] } },
        },
        mergePatch(),
      ),
      422,
    );
    assert.match(added.message, /no new finalizers can be added/);
    await c.core.patchNamespacedConfigMap(
      { name, namespace: ns, body: { metadata: { finalizers: null } } },
      mergePatch(),
    );
    await eventually('DELETED', () => w.events.find((e) => e.type === 'DELETED'));
    w.stop();
    assert.deepEqual(
      w.events.map((e) => e.type),
      ['MODIFIED', 'DELETED'],
    );
    await failure(c.core.readNamespacedConfigMap({ name, namespace: ns }), 404);
  });

  test('owner references: dependents of a deleted owner are garbage-collected (background)', async () => {
    const owner = await c.core.createNamespacedConfigMap({ namespace: ns, body: configMap(uniqueName('owner')) });
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: owner.metadata!.name!, uid: owner.metadata!.uid! };
    const dep = await c.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: uniqueName('dep'), ownerReferences: [ref] }, data: {} },
    });
    await c.core.deleteNamespacedConfigMap({ name: owner.metadata!.name!, namespace: ns });
    await eventually(
      'the dependent to be collected',
      async () => {
        try {
          await c.core.readNamespacedConfigMap({ name: dep.metadata!.name!, namespace: ns });
          return undefined;
        } catch (err) {
          return (err as { code?: number }).code === 404 || undefined;
        }
      },
      30_000,
    );
  });

  test('propagationPolicy=Foreground keeps the owner (foregroundDeletion finalizer) until its dependents are gone', async () => {
    const owner = await c.core.createNamespacedConfigMap({ namespace: ns, body: configMap(uniqueName('fowner')) });
    const ref = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      name: owner.metadata!.name!,
      uid: owner.metadata!.uid!,
      blockOwnerDeletion: true,
    };
    const depName = uniqueName('fdep');
    await c.core.createNamespacedConfigMap({
      namespace: ns,
      body: {
        metadata: { name: depName, ownerReferences: [ref], finalizers: ['example.tracejob.dev/hold'] },
        data: {},
      },
    });
    await c.core.deleteNamespacedConfigMap({
      name: owner.metadata!.name!,
      namespace: ns,
      propagationPolicy: 'Foreground',
    });
    const terminating = await c.core.readNamespacedConfigMap({ name: owner.metadata!.name!, namespace: ns });
    assert.ok(terminating.metadata?.finalizers?.includes('foregroundDeletion'));
    assert.ok(terminating.metadata?.deletionTimestamp);
    const dep = await eventually(
      'the dependent to be deleting',
      async () => {
        const d = await c.core.readNamespacedConfigMap({ name: depName, namespace: ns });
        return d.metadata?.deletionTimestamp ? d : undefined;
      },
      30_000,
    );
    assert.ok(dep);
    assert.ok(
      await c.core.readNamespacedConfigMap({ name: owner.metadata!.name!, namespace: ns }),
      'the owner waits for its dependent',
    );
    await c.core.patchNamespacedConfigMap(
      { name: depName, namespace: ns, body: { metadata: { finalizers: null } } },
      mergePatch(),
    );
    await eventually(
      'the owner to go',
      async () => {
        try {
          await c.core.readNamespacedConfigMap({ name: owner.metadata!.name!, namespace: ns });
          return undefined;
        } catch (err) {
          return (err as { code?: number }).code === 404 || undefined;
        }
      },
      30_000,
    );
  });

  test('deleting a namespace deletes what is in it; nothing new may be created while it terminates', async () => {
    const doomed = await createNamespace(c.core, 'doomed');
    await c.core.createNamespacedConfigMap({ namespace: doomed, body: configMap('inside') });
    await createWidgetIn(doomed, 'w-inside');
    await c.core.createNamespacedConfigMap({
      namespace: doomed,
      body: { metadata: { name: 'held', finalizers: ['example.tracejob.dev/hold'] }, data: {} },
    });
    await c.core.deleteNamespace({ name: doomed });
    const forbidden = await failure(
      c.core.createNamespacedConfigMap({ namespace: doomed, body: configMap('late') }),
      403,
    );
    assert.equal(forbidden.reason, 'Forbidden');
    await eventually(
      'contents to be deleted',
      async () => {
        const left = await c.core.listNamespacedConfigMap({ namespace: doomed });
        return left.items.every((x) => x.metadata?.name === 'held') && left.items.length === 1 ? true : undefined;
      },
      30_000,
    );
    const ns1 = await c.core.readNamespace({ name: doomed });
    assert.equal(ns1.status?.phase, 'Terminating');
    await c.core.patchNamespacedConfigMap(
      { name: 'held', namespace: doomed, body: { metadata: { finalizers: null } } },
      mergePatch(),
    );
    await eventually(
      'the namespace to go',
      async () => {
        try {
          await c.core.readNamespace({ name: doomed });
          return undefined;
        } catch (err) {
          return (err as { code?: number }).code === 404 || undefined;
        }
      },
      60_000,
    );
  });
});

async function createWidgetIn(namespace: string, name: string): Promise<void> {
  await c.custom.createNamespacedCustomObject({ ...widgets, namespace, body: widget(name) });
}

describe('custom resource definitions', () => {
  test('an established CRD appears in discovery (/apis and /apis/GROUP/VERSION)', async () => {
    const crd = await c.crds.readCustomResourceDefinition({ name: 'widgets.example.tracejob.dev' });
    assert.ok(crd.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True'));
    assert.ok(crd.status?.conditions?.some((x) => x.type === 'NamesAccepted' && x.status === 'True'));
    const groups = (await cluster.request('GET', '/apis')).json<{ groups: { name: string }[] }>();
    assert.ok(groups.groups.some((g) => g.name === 'example.tracejob.dev'));
    const resources = (await cluster.request('GET', '/apis/example.tracejob.dev/v1')).json<{
      resources: { name: string; kind: string; namespaced: boolean; shortNames?: string[] }[];
    }>();
    const r = resources.resources.find((x) => x.name === 'widgets');
    assert.equal(r?.kind, 'Widget');
    assert.equal(r?.namespaced, true);
    assert.deepEqual(r?.shortNames, ['wg']);
    assert.ok(resources.resources.some((x) => x.name === 'widgets/status'));
  });

  test('schema violations are 422 Invalid with field paths in details.causes', async () => {
    const status = await failure(
      createWidget(widget(uniqueName('bad'), { size: 500, color: 'pink', name: 'UPPER', tags: ['a', 'b', 'c', 'd'] })),
      422,
    );
    assert.equal(status.reason, 'Invalid');
    const fields = (status.details?.causes ?? []).map((x) => x.field).sort();
    assert.deepEqual(fields, ['spec.color', 'spec.name', 'spec.size', 'spec.tags']);
    const missing = await failure(createWidget(widget(uniqueName('bad'), {})), 422);
    assert.ok(missing.details?.causes?.some((x) => x.field === 'spec.size' && x.reason === 'FieldValueRequired'));
    const wrongType = await failure(createWidget(widget(uniqueName('bad'), { size: 'three' })), 422);
    assert.ok(wrongType.details?.causes?.some((x) => x.field === 'spec.size'));
  });

  test('x-kubernetes-validations (CEL) rules are enforced with their message', async () => {
    const status = await failure(createWidget(widget(uniqueName('cel'), { size: 5, maxSize: 2 })), 422);
    assert.ok(
      status.details?.causes?.some((x) => x.field === 'spec' && /size must not exceed maxSize/.test(x.message)),
      JSON.stringify(status.details),
    );
    const ok = await createWidget(widget(uniqueName('cel'), { size: 2, maxSize: 2 }));
    assert.equal(ok.spec?.size, 2);
  });

  test('unknown fields are pruned unless x-kubernetes-preserve-unknown-fields; schema defaults are applied', async () => {
    const w = await createWidget(
      widget(uniqueName('prune'), { size: 1, unknown: 'dropped', extra: { anything: { goes: true } } }),
    );
    assert.equal(w.spec?.unknown, undefined);
    assert.deepEqual(w.spec?.extra, { anything: { goes: true } });
    assert.equal(w.spec?.color, 'green', 'the schema default');
  });

  test('additionalPrinterColumns drive server-side Table output', async () => {
    const name = uniqueName('table');
    await createWidget(widget(name, { size: 42 }));
    await c.custom.patchNamespacedCustomObjectStatus(
      { ...widgets, namespace: ns, name, body: { status: { phase: 'Shiny' } } },
      mergePatch(),
    );
    const raw = await cluster.request('GET', `/apis/example.tracejob.dev/v1/namespaces/${ns}/widgets/${name}`, {
      headers: { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
    });
    assert.equal(raw.status, 200);
    const table = raw.json<{
      kind: string;
      columnDefinitions: { name: string; type: string }[];
      rows: { cells: unknown[]; object: { metadata: { name: string } } }[];
    }>();
    assert.equal(table.kind, 'Table');
    assert.deepEqual(
      table.columnDefinitions.map((x) => x.name),
      ['Name', 'Size', 'Phase', 'Age'],
    );
    assert.deepEqual(table.rows[0]?.cells.slice(0, 3), [name, 42, 'Shiny']);
    assert.match(String(table.rows[0]?.cells[3]), /^\d+s$/);
    assert.equal(table.rows[0]?.object.metadata.name, name);
  });
});

describe('bad input', () => {
  test('malformed JSON is a 400 Status, and the server keeps serving', async () => {
    const raw = await cluster.request('POST', `/api/v1/namespaces/${ns}/configmaps`, {
      headers: { 'Content-Type': 'application/json' },
      body: '{"metadata": {"name": ',
    });
    assert.equal(raw.status, 400);
    assert.equal(raw.json<StatusBody>().kind, 'Status');
    const ok = await c.core.listNamespacedConfigMap({ namespace: ns });
    assert.ok(ok.items.length > 0);
  });

  test('unknown resources are 404', async () => {
    const raw = await cluster.request('GET', `/api/v1/namespaces/${ns}/nosuchthings`);
    assert.equal(raw.status, 404);
    assert.equal(raw.json<StatusBody>().reason, 'NotFound');
    assert.equal((await cluster.request('GET', '/apis/no.such.group/v1')).status, 404);
  });

  test('a wrong patch content type is 415', async () => {
    const name = uniqueName('p415');
    await c.core.createNamespacedConfigMap({ namespace: ns, body: configMap(name) });
    const raw = await cluster.request('PATCH', `/api/v1/namespaces/${ns}/configmaps/${name}`, {
      headers: { 'Content-Type': 'text/plain' },
      body: '{"data":{"a":"x"}}',
    });
    assert.equal(raw.status, 415);
    const w = await createWidget(widget(uniqueName('p415')));
    const smp = await cluster.request(
      'PATCH',
      `/apis/example.tracejob.dev/v1/namespaces/${ns}/widgets/${w.metadata.name}`,
      {
        headers: { 'Content-Type': 'application/strategic-merge-patch+json' },
        body: '{"spec":{"size":4}}',
      },
    );
    assert.equal(smp.status, 415, 'custom resources do not take strategic merge patches');
  });

  test('an oversized body is refused with 413 and nothing is stored', async () => {
    const name = uniqueName('big');
    const body = JSON.stringify({ metadata: { name }, data: { big: 'x'.repeat(4 * 1024 * 1024) } });
    const raw = await cluster.request('POST', `/api/v1/namespaces/${ns}/configmaps`, {
      headers: { 'Content-Type': 'application/json' },
      body,
    });
    assert.equal(raw.status, 413);
    await failure(c.core.readNamespacedConfigMap({ name, namespace: ns }), 404);
  });

  test('JSON patch and strategic merge patch apply to built-ins', async () => {
    const name = uniqueName('patch');
    await c.core.createNamespacedConfigMap({ namespace: ns, body: configMap(name, { a: '1', b: '2' }) });
    const patched = await c.core.patchNamespacedConfigMap(
      {
        name,
        namespace: ns,
        body: [
          { op: 'remove', path: '/data/b' },
          { op: 'add', path: '/data/c', value: '3' },
        ],
      },
      setHeader('application/json-patch+json'),
    );
    assert.deepEqual(patched.data, { a: '1', c: '3' });
    const failed = await cluster.request('PATCH', `/api/v1/namespaces/${ns}/configmaps/${name}`, {
      headers: { 'Content-Type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'test', path: '/data/a', value: 'not-1' }]),
    });
    assert.equal(failed.status, 422);
    const pod = await c.core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: uniqueName('smp'), labels: { a: '1' } },
        spec: {
          containers: [
            { name: 'one', image: 'x/y:1' },
            { name: 'two', image: 'x/z:1' },
          ],
        },
      },
    });
    const smp = await c.core.patchNamespacedPod(
      { name: pod.metadata!.name!, namespace: ns, body: { spec: { containers: [{ name: 'two', image: 'x/z:2' }] } } },
      setHeader('application/strategic-merge-patch+json'),
    );
    assert.deepEqual(
      smp.spec?.containers.map((x) => `${x.name}=${x.image}`),
      ['one=x/y:1', 'two=x/z:2'],
      'containers merge by name',
    );
  });
});

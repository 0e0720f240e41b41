import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { useCluster, type TestCluster } from '../support/cluster.ts';
import { clients, createNamespace, ensureWidgetCrd } from './helpers.ts';

// Hostile bodies never crash the server, never get a 500, and never disturb an object it acknowledged.

let cluster: TestCluster;
let c: ReturnType<typeof clients>;
let ns: string;

before(async () => {
  cluster = await useCluster();
  c = clients(cluster.kubeConfig);
  ns = await createNamespace(c.core, 'hostile');
  await ensureWidgetCrd(cluster, c.crds);
  await c.core.createNamespacedConfigMap({
    namespace: ns,
    body: { metadata: { name: 'sentinel' }, data: { keep: 'me' } },
  });
  await c.custom.createNamespacedCustomObject({
    group: 'example.tracejob.dev',
    version: 'v1',
    plural: 'widgets',
    namespace: ns,
    body: { apiVersion: 'example.tracejob.dev/v1', kind: 'Widget', metadata: { name: 'target' }, spec: { size: 1 } },
  });
});

after(async () => {
  await c.core.deleteNamespace({ name: ns }).catch(() => {});
  await cluster.stop();
});

const acceptable = new Set([200, 201, 400, 403, 404, 405, 409, 413, 415, 422]);

const json = fc.jsonValue({ maxDepth: 4 });
const objectish = fc.record(
  {
    apiVersion: fc.oneof(fc.constant('v1'), fc.constant('example.tracejob.dev/v1'), fc.string()),
    kind: fc.oneof(fc.constant('ConfigMap'), fc.constant('Widget'), fc.constant('Pod'), fc.string()),
    metadata: fc.oneof(
      fc.record(
        {
          name: fc.oneof(fc.constant('sentinel'), fc.constant('target'), fc.string({ maxLength: 70 })),
          labels: fc.dictionary(fc.string(), fc.oneof(fc.string(), json)),
        },
        { requiredKeys: [] },
      ),
      json,
    ),
    spec: json,
    data: json,
    status: json,
  },
  { requiredKeys: [] },
);

const requests = fc.oneof(
  fc.record({
    method: fc.constant('POST'),
    path: fc.constantFrom(
      `/api/v1/namespaces/${'NS'}/configmaps`,
      `/api/v1/namespaces/NS/pods`,
      `/apis/example.tracejob.dev/v1/namespaces/NS/widgets`,
    ),
    type: fc.constantFrom('application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf', 'text/plain'),
    body: fc.oneof(
      objectish.map((o) => JSON.stringify(o)),
      fc.string(),
      json.map((j) => JSON.stringify(j)),
    ),
  }),
  fc.record({
    method: fc.constant('PATCH'),
    path: fc.constantFrom(
      '/api/v1/namespaces/NS/configmaps/sentinel',
      '/apis/example.tracejob.dev/v1/namespaces/NS/widgets/target',
      '/apis/example.tracejob.dev/v1/namespaces/NS/widgets/target/status',
    ),
    type: fc.constantFrom(
      'application/json-patch+json',
      'application/merge-patch+json',
      'application/strategic-merge-patch+json',
      'application/apply-patch+yaml',
      'application/json',
    ),
    body: fc.oneof(
      json.map((j) => JSON.stringify(j)),
      fc.string(),
      fc
        .array(
          fc.record(
            {
              op: fc.constantFrom('add', 'remove', 'replace', 'move', 'copy', 'test', 'x'),
              path: fc.constantFrom(
                '',
                '/',
                '/metadata',
                '/metadata/name',
                '/spec/size',
                '/data/keep',
                '/metadata/resourceVersion',
                '/a/b/c',
              ),
              from: fc.constantFrom('/data', '/spec'),
              value: json,
            },
            { requiredKeys: ['op'] },
          ),
        )
        .map((a) => JSON.stringify(a)),
    ),
  }),
  fc.record({
    method: fc.constantFrom('PUT', 'DELETE', 'GET'),
    path: fc.constantFrom(
      '/api/v1/namespaces/NS/configmaps/sentinel',
      '/api/v1/namespaces/NS/configmaps/x%2Fy',
      '/api/v1/namespaces/NS/configmaps?labelSelector=a%20in%20(',
      '/api/v1/namespaces/NS/configmaps?fieldSelector=x=y',
      '/api/v1/namespaces/NS/configmaps?watch=true&resourceVersion=abc',
      '/api/v1/namespaces/NS/configmaps?limit=1&continue=garbage',
      '/apis/example.tracejob.dev/v1/namespaces/NS/widgets/target',
    ),
    type: fc.constant('application/json'),
    body: fc.oneof(
      fc.constant(''),
      json.map((j) => JSON.stringify(j)),
    ),
  }),
);

test(
  'random and malformed requests get 4xx answers, never a 500, and acknowledged objects stay intact',
  { timeout: 120_000 },
  async () => {
    const before = await c.core.readNamespacedConfigMap({ name: 'sentinel', namespace: ns });
    const unexpected: string[] = [];
    await fc.assert(
      fc.asyncProperty(requests, async (r) => {
        const path = r.path.replace('NS', ns);
        // Mutating the sentinel with a valid body is allowed to succeed; only its survival with *some* state matters then.
        const res = await cluster.request(r.method, path, {
          headers: { 'Content-Type': r.type },
          body: r.method === 'GET' ? undefined : r.body,
        });
        if (!acceptable.has(res.status))
          unexpected.push(
            `${r.method} ${path} ${r.type} ${r.body.slice(0, 200)} -> ${res.status} ${res.text.slice(0, 300)}`,
          );
        if (res.status >= 400) {
          const status = res.json<{ kind: string; code: number }>();
          assert.equal(status.kind, 'Status');
          assert.equal(status.code, res.status);
        }
      }),
      { numRuns: 1000 },
    );
    assert.deepEqual(unexpected, []);
    const after = await c.core.readNamespacedConfigMap({ name: 'sentinel', namespace: ns }).catch(() => undefined);
    if (after) assert.equal(after.metadata?.uid, before.metadata?.uid);
    const list = await c.core.listNamespacedConfigMap({ namespace: ns });
    assert.ok(Array.isArray(list.items), 'the server still lists');
    const target = (await c.custom
      .getNamespacedCustomObject({
        group: 'example.tracejob.dev',
        version: 'v1',
        plural: 'widgets',
        namespace: ns,
        name: 'target',
      })
      .catch(() => undefined)) as { spec?: { size?: unknown } } | undefined;
    // Whatever the random writes did, what is stored still satisfies the schema.
    if (target)
      assert.ok(
        Number.isInteger(target.spec?.size) &&
          (target.spec?.size as number) >= 1 &&
          (target.spec?.size as number) <= 100,
        JSON.stringify(target),
      );
  },
);

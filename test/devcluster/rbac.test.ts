import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AuthorizationV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { useCluster, type TestCluster } from '../support/cluster.ts';
import { clients, createNamespace, eventually, uniqueName } from './helpers.ts';

// RBAC as kube-apiserver enforces it for an impersonated user (kubectl --as): what a platform team relies on to let
// application teams trace without cluster-admin.

let cluster: TestCluster;
let c: ReturnType<typeof clients>;
let rbac: RbacAuthorizationV1Api;
let ns: string;
const user = uniqueName('alice');

before(async () => {
  cluster = await useCluster();
  c = clients(cluster.kubeConfig);
  rbac = cluster.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  ns = await createNamespace(c.core, 'rbac');
});

after(async () => {
  await c.core.deleteNamespace({ name: ns }).catch(() => {});
  await rbac.deleteClusterRole({ name: `${user}-widgets` }).catch(() => {});
  await cluster.stop();
});

async function canI(args: string[]): Promise<string> {
  const r = await cluster.kubectl(['auth', 'can-i', ...args, '--as', user, '-n', ns]);
  return r.stdout.trim();
}

test('an impersonated user without bindings is refused with the 403 kube-apiserver words', async () => {
  const r = await cluster.kubectl(['get', 'pods', '-n', ns, '--as', user]);
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    new RegExp(
      `pods is forbidden: User "${user}" cannot list resource "pods" in API group "" in the namespace "${ns}"`,
    ),
  );
  assert.equal(await canI(['create', 'pods']), 'no');
});

test('a RoleBinding to the aggregated edit ClusterRole grants what it says, in its namespace only', async () => {
  await rbac.createNamespacedRoleBinding({
    namespace: ns,
    body: {
      metadata: { name: `${user}-edit` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
      subjects: [{ kind: 'User', name: user, apiGroup: 'rbac.authorization.k8s.io' }],
    },
  });
  await eventually('the binding to take effect', async () =>
    (await canI(['create', 'pods'])) === 'yes' ? true : undefined,
  );
  assert.equal(await canI(['get', 'configmaps']), 'yes', 'edit includes view');
  assert.equal(await canI(['create', 'rolebindings']), 'no', 'edit is not admin');
  const other = await cluster.kubectl(['auth', 'can-i', 'create', 'pods', '--as', user, '-n', 'default']);
  assert.equal(other.stdout.trim(), 'no');
  const created = await cluster.kubectl([
    'create',
    'configmap',
    'by-alice',
    '-n',
    ns,
    '--as',
    user,
    '--from-literal=a=b',
  ]);
  assert.equal(created.code, 0, created.stderr);
});

test('ClusterRoles labelled aggregate-to-edit extend edit (how a chart grants its CRDs to teams)', async () => {
  await rbac.createClusterRole({
    body: {
      metadata: { name: `${user}-widgets`, labels: { 'rbac.authorization.k8s.io/aggregate-to-edit': 'true' } },
      rules: [
        {
          apiGroups: ['example.tracejob.dev'],
          resources: [`widgets${user.replace(/-/g, '')}`],
          verbs: ['create', 'get'],
        },
      ],
    },
  });
  const authz = cluster.kubeConfig.makeApiClient(AuthorizationV1Api);
  const resource = `widgets${user.replace(/-/g, '')}`;
  await eventually('aggregation into edit', async () => {
    const review = await authz.createSubjectAccessReview({
      body: {
        spec: { user, resourceAttributes: { namespace: ns, verb: 'create', group: 'example.tracejob.dev', resource } },
      },
    });
    return review.status?.allowed ? true : undefined;
  });
  const edit = await rbac.readClusterRole({ name: 'edit' });
  assert.ok(edit.rules?.some((r) => r.resources?.includes(resource)));
});

test('SubjectAccessReview answers for another user', async () => {
  const authz = cluster.kubeConfig.makeApiClient(AuthorizationV1Api);
  const review = await authz.createSubjectAccessReview({
    body: { spec: { user, resourceAttributes: { namespace: ns, verb: 'delete', resource: 'pods' } } },
  });
  assert.equal(review.status?.allowed, true);
  const denied = await authz.createSubjectAccessReview({
    body: { spec: { user, resourceAttributes: { namespace: 'kube-system', verb: 'delete', resource: 'pods' } } },
  });
  assert.equal(denied.status?.allowed, false);
});

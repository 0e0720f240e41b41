// The rendered chart applied to a cluster with the real kubectl: every object is accepted by the API server (built-in
// kinds by its validation, our kinds by the CRDs the chart carries). On a real cluster (TRACEJOB_E2E_KUBECONFIG=1) the
// apply is a server-side dry run, so an existing installation is left alone.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { dump } from 'js-yaml';
import { kubeTools } from '../../src/devcluster/kube-tools.ts';
import { useCluster, type TestCluster } from '../support/cluster.ts';
import { repoRoot } from '../api/examples.ts';

const run = promisify(execFile);
let cluster: TestCluster;
const suffix = randomBytes(3).toString('hex');
const namespace = `tj-chart-${suffix}`;
const tracerNamespace = `tj-tracers-${suffix}`;

before(async () => {
  cluster = await useCluster();
  if (cluster.isDevCluster) {
    const ns = await cluster.kubectl(['apply', '-f', '-'], {
      input: dump({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }),
    });
    assert.equal(ns.code, 0, ns.stderr);
  }
});

after(async () => {
  if (!cluster) return;
  if (cluster.isDevCluster) await cluster.stop();
});

test('every object of the rendered chart is accepted by the API server', async () => {
  const { helm } = await kubeTools();
  const { stdout: manifests } = await run(
    helm,
    [
      'template',
      'tj',
      join(repoRoot, 'charts', 'tracejob-operator'),
      '--namespace',
      namespace,
      '--include-crds',
      '--set',
      `tracer.namespace.name=${tracerNamespace}`,
    ],
    { maxBuffer: 64 << 20 },
  );
  const dryRun = cluster.isDevCluster ? [] : ['--dry-run=server'];
  // CRDs first, as helm does: the default TracePolicy needs its kind registered.
  const crds = await cluster.kubectl(['apply', ...dryRun, '-f', join(repoRoot, 'crds')]);
  assert.equal(crds.code, 0, crds.stderr);
  if (cluster.isDevCluster) {
    const established = await cluster.kubectl([
      'wait',
      '--for=condition=Established',
      'crd/tracepolicies.tracejob.dev',
    ]);
    assert.equal(established.code, 0, established.stderr);
  }
  const applied = await cluster.kubectl(['apply', ...dryRun, '-f', '-'], { input: manifests });
  assert.equal(applied.code, 0, applied.stderr);
  for (const kind of [
    'namespace',
    'serviceaccount',
    'clusterrole.rbac.authorization.k8s.io',
    'role.rbac.authorization.k8s.io',
    'deployment.apps',
    'configmap',
    'tracepolicy.tracejob.dev',
  ]) {
    assert.match(
      applied.stdout,
      new RegExp(`^${kind.replace(/\./g, '\\.')}/\\S+ (created|configured|unchanged)`, 'm'),
      kind,
    );
  }
  if (!cluster.isDevCluster) return;

  const policy = await cluster.kubectl([
    'get',
    'tracepolicy',
    'default',
    '-o',
    'jsonpath={.spec.allowCustomBpftrace} {.spec.maxDuration}',
  ]);
  assert.equal(policy.code, 0, policy.stderr);
  assert.equal(policy.stdout, 'false 5m');
  const tracer = await cluster.kubectl([
    'get',
    'serviceaccount',
    'tracejob-tracer',
    '-n',
    tracerNamespace,
    '-o',
    'jsonpath={.automountServiceAccountToken}',
  ]);
  assert.equal(tracer.stdout, 'false');
  const replicas = await cluster.kubectl([
    'get',
    'deployment',
    'tj-tracejob-operator',
    '-n',
    namespace,
    '-o',
    'jsonpath={.spec.replicas}',
  ]);
  assert.equal(replicas.stdout, '2');
});

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { useCluster, type TestCluster } from '../support/cluster.ts';
import { uniqueName } from './helpers.ts';

// The real helm 4 installs the project's chart (charts/tracejob-operator) into the cluster.

const chart = join(import.meta.dirname, '..', '..', 'charts', 'tracejob-operator');
let cluster: TestCluster;

before(async () => {
  cluster = await useCluster();
});

after(async () => {
  await cluster.stop();
});

async function ok(r: Promise<{ stdout: string; stderr: string; code: number }>, what: string): Promise<string> {
  const out = await r;
  assert.equal(out.code, 0, `${what} failed (${out.code}):\n${out.stderr}\n${out.stdout}`);
  return out.stdout;
}

test(
  'helm install of the project chart creates its CRDs and objects; upgrade and uninstall work',
  { skip: existsSync(chart) ? false : 'charts/tracejob-operator is not there yet' },
  async () => {
    const ns = uniqueName('helm');
    const release = 'tj';
    const installed = await ok(
      cluster.helm(['install', release, chart, '--namespace', ns, '--create-namespace']),
      'helm install',
    );
    assert.match(installed, /STATUS: deployed/);
    const crds = await ok(cluster.kubectl(['get', 'crd', '-o', 'name']), 'get crd');
    assert.match(crds, /customresourcedefinition.apiextensions.k8s.io\/tracejobs.tracejob.dev/);
    const deployments = await ok(cluster.kubectl(['get', 'deployments', '-n', ns, '-o', 'name']), 'get deployments');
    assert.match(deployments, /deployment.apps\//);
    const list = JSON.parse(await ok(cluster.helm(['list', '--namespace', ns, '-o', 'json']), 'helm list')) as {
      name: string;
      status: string;
    }[];
    assert.deepEqual(
      list.map((r) => `${r.name} ${r.status}`),
      [`${release} deployed`],
    );
    await ok(cluster.helm(['upgrade', release, chart, '--namespace', ns, '--reuse-values']), 'helm upgrade');
    const history = JSON.parse(
      await ok(cluster.helm(['history', release, '--namespace', ns, '-o', 'json']), 'helm history'),
    ) as { revision: number; status: string }[];
    assert.deepEqual(
      history.map((h) => `${h.revision} ${h.status}`),
      ['1 superseded', '2 deployed'],
    );
    await ok(cluster.helm(['uninstall', release, '--namespace', ns]), 'helm uninstall');
    assert.equal(
      (await ok(cluster.kubectl(['get', 'deployments', '-n', ns, '-o', 'name']), 'get deployments')).trim(),
      '',
    );
    await cluster.kubectl(['delete', 'namespace', ns, '--wait=false']);
  },
);

test(
  'helm template renders the chart without a cluster-side change',
  { skip: existsSync(chart) ? false : 'charts/tracejob-operator is not there yet' },
  async () => {
    const out = await ok(cluster.helm(['template', 'tj', chart, '--namespace', 'tracejob-system']), 'helm template');
    assert.match(out, /kind: Deployment/);
  },
);

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { loadAll, load } from 'js-yaml';
import { validateTraceJob } from '../../src/api/tracejob.ts';
import { evaluatePolicy, validateTracePolicy } from '../../src/api/tracepolicy.ts';
import { kubeTools } from '../../src/devcluster/kube-tools.ts';
import { OperatorConfig } from '../../src/operator/config.ts';
import { policyCrdValidator } from '../api/crd-fixtures.ts';
import { exampleObjects, repoRoot } from '../api/examples.ts';

const run = promisify(execFile);
const chart = join(repoRoot, 'charts', 'tracejob-operator');

type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
} & Record<string, unknown>;
type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };

let helm: string;

before(async () => {
  helm = (await kubeTools()).helm;
});

async function render(...set: string[]): Promise<K8sObject[]> {
  const args = ['template', 'tj', chart, '--namespace', 'tracejob-system', '--include-crds'];
  for (const s of set) args.push('--set', s);
  const { stdout } = await run(helm, args, { maxBuffer: 64 << 20 });
  return loadAll(stdout).filter((o): o is K8sObject => o !== null && o !== undefined);
}

const find = (objects: K8sObject[], kind: string, name?: string) => {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.equal(found.length, 1, `one ${kind} ${name ?? ''}`);
  return found[0]!;
};

/** The model class of a built-in kind from kubernetes-models, which validates against the Kubernetes schemas. */
async function validateBuiltIn(obj: K8sObject): Promise<void> {
  const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : [undefined, obj.apiVersion];
  const module = group
    ? `kubernetes-models/${group}/${version}/${obj.kind}`
    : `kubernetes-models/${version}/${obj.kind}`;
  const models = (await import(module)) as Record<string, new (data: unknown) => { validate(): void }>;
  new models[obj.kind]!(obj).validate();
}

test('helm lint --strict passes', async () => {
  const { stdout } = await run(helm, ['lint', chart, '--strict']);
  assert.match(stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
});

describe('helm template with the default values', () => {
  let objects: K8sObject[];
  before(async () => {
    objects = await render();
  });

  test('every rendered object validates: Kubernetes schemas for built-in kinds, our CRD for ours', async () => {
    const validatePolicy = policyCrdValidator();
    const kinds = new Set<string>();
    for (const obj of objects) {
      kinds.add(obj.kind);
      if (obj.apiVersion === 'tracejob.dev/v1alpha1') {
        assert.deepEqual(validatePolicy(obj), [], obj.metadata.name);
        assert.ok(validateTracePolicy(obj).ok);
      } else {
        await validateBuiltIn(obj);
      }
    }
    for (const kind of [
      'CustomResourceDefinition',
      'Deployment',
      'ServiceAccount',
      'ClusterRole',
      'Role',
      'Namespace',
    ]) {
      assert.ok(kinds.has(kind), kind);
    }
  });

  test('the chart carries both generated CRDs', () => {
    for (const file of ['tracejob.dev_tracejobs.yaml', 'tracejob.dev_tracepolicies.yaml']) {
      const generated = load(readFileSync(join(repoRoot, 'crds', file), 'utf8')) as K8sObject;
      assert.deepEqual(find(objects, 'CustomResourceDefinition', generated.metadata.name), generated);
    }
  });

  test('operator Deployment: 2 replicas, leader election, tracejob operator, probes, metrics port, locked down', () => {
    const deployment = find(objects, 'Deployment') as K8sObject & { spec: Record<string, never> };
    assert.equal(deployment.spec.replicas, 2);
    const pod = (deployment.spec.template as { spec: Record<string, never> }).spec;
    const container = (pod.containers as Record<string, never>[])[0]!;
    assert.deepEqual(container.command, ['tracejob', 'operator']);
    assert.ok((container.args as string[]).includes('--leader-elect'));
    assert.ok((container.args as string[]).includes('--config=/etc/tracejob/config.yaml'));
    assert.ok((container.args as string[]).includes('--metrics-addr=:8080'));
    assert.equal(container.image, 'ghcr.io/tracejob/tracejob:0.1.0');
    assert.deepEqual((container.ports as unknown[])[0], { name: 'http-metrics', containerPort: 8080, protocol: 'TCP' });
    assert.equal((container.livenessProbe as { httpGet: { path: string } }).httpGet.path, '/healthz');
    assert.equal((container.readinessProbe as { httpGet: { path: string } }).httpGet.path, '/readyz');
    assert.deepEqual(container.securityContext, {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    assert.equal((pod.securityContext as { runAsNonRoot: boolean }).runAsNonRoot, true);
    assert.equal(pod.serviceAccountName, 'tj-tracejob-operator');
  });

  test('the operator configuration is accepted by OperatorConfig', () => {
    const configMap = find(objects, 'ConfigMap') as K8sObject & { data: Record<string, string> };
    const config = OperatorConfig.parse(load(configMap.data['config.yaml']!));
    assert.equal(config.tracerNamespace, 'tracejob-tracers');
    assert.equal(config.tracerImage, 'ghcr.io/tracejob/tracejob:0.1.0');
    assert.equal(config.tracerServiceAccount, 'tracejob-tracer');
    assert.equal(config.storage.profiles.default?.type, 's3');
  });

  test('the tracer namespace admits privileged pods; the tracer account has no token and no bindings', () => {
    const namespace = find(objects, 'Namespace', 'tracejob-tracers');
    assert.equal(namespace.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'privileged');
    const tracer = find(objects, 'ServiceAccount', 'tracejob-tracer');
    assert.equal(tracer.metadata.namespace, 'tracejob-tracers');
    assert.equal(tracer.automountServiceAccountToken, false);
    for (const binding of objects.filter((o) => o.kind.endsWith('Binding'))) {
      for (const subject of binding.subjects as { name: string }[]) assert.notEqual(subject.name, 'tracejob-tracer');
    }
  });

  test('operator RBAC is exactly the least that works', () => {
    const grants = (kind: string, name: string) =>
      (find(objects, kind, name).rules as Rule[]).flatMap((r) =>
        r.resources.flatMap((res) =>
          r.verbs.map(
            (v) =>
              `${r.apiGroups.join(',') || 'core'} ${res} ${v}${r.resourceNames ? ` [${r.resourceNames.join(',')}]` : ''}`,
          ),
        ),
      );
    assert.deepEqual(grants('ClusterRole', 'tj-tracejob-operator').sort(), [
      'core configmaps get',
      'core events create',
      'core namespaces get',
      'core nodes get',
      'core pods get',
      'core pods list',
      'tracejob.dev tracejobs delete',
      'tracejob.dev tracejobs get',
      'tracejob.dev tracejobs list',
      'tracejob.dev tracejobs patch',
      'tracejob.dev tracejobs watch',
      'tracejob.dev tracejobs/status patch',
      'tracejob.dev tracepolicies get',
      'tracejob.dev tracepolicies list',
      'tracejob.dev tracepolicies watch',
    ]);
    const role = find(objects, 'Role', 'tj-tracejob-operator');
    assert.equal(role.metadata.namespace, 'tracejob-tracers');
    assert.deepEqual(grants('Role', 'tj-tracejob-operator').sort(), [
      'coordination.k8s.io leases create',
      'coordination.k8s.io leases get [tracejob-operator]',
      'coordination.k8s.io leases update [tracejob-operator]',
      'core pods create',
      'core pods delete',
      'core pods get',
      'core pods list',
      'core pods watch',
      'core secrets get [tracejob-storage]',
    ]);
    for (const obj of objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role')) {
      for (const rule of obj.rules as Rule[]) {
        for (const field of [rule.apiGroups, rule.resources, rule.verbs])
          assert.ok(!field.includes('*'), obj.metadata.name);
      }
    }
  });

  test('every RBAC rule of the operator says why', () => {
    const lines = readFileSync(join(chart, 'templates', 'rbac.yaml'), 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (line.trim().startsWith('- apiGroups:')) {
        const above = lines
          .slice(0, i)
          .reverse()
          .find((l) => !l.trim().startsWith('{{'));
        assert.match(above ?? '', /^\s*#/, `rbac.yaml line ${i + 1} has no comment`);
      }
    });
  });

  test('tracejob-edit and tracejob-view aggregate into admin, edit and view', () => {
    const edit = find(objects, 'ClusterRole', 'tracejob-edit');
    assert.equal(edit.metadata.labels?.['rbac.authorization.k8s.io/aggregate-to-admin'], 'true');
    assert.equal(edit.metadata.labels?.['rbac.authorization.k8s.io/aggregate-to-edit'], 'true');
    assert.ok((edit.rules as Rule[]).some((r) => r.resources.includes('tracejobs') && r.verbs.includes('create')));
    assert.ok(!(edit.rules as Rule[]).some((r) => r.resources.includes('tracepolicies')));
    const view = find(objects, 'ClusterRole', 'tracejob-view');
    assert.equal(view.metadata.labels?.['rbac.authorization.k8s.io/aggregate-to-view'], 'true');
    for (const rule of view.rules as Rule[]) assert.deepEqual(rule.verbs, ['get', 'list', 'watch']);
  });

  test('the default TracePolicy selects every namespace and forbids custom bpftrace', () => {
    const policy = validateTracePolicy(find(objects, 'TracePolicy', 'default'));
    assert.ok(policy.ok);
    assert.deepEqual(policy.value.spec.namespaceSelector, {});
    assert.equal(policy.value.spec.allowCustomBpftrace, false);
    assert.ok(!policy.value.spec.allowedTracers.includes('bpftrace'));
    assert.ok(!policy.value.spec.allowedTracers.includes('ftrace'));
  });
});

test('values reach the manifests: image, pull secrets, resources, scheduling, tracer namespace', async () => {
  const objects = await render(
    'image.repository=registry.example.com/tracejob',
    'image.tag=1.2.3',
    'imagePullSecrets={regcred}',
    'resources.limits.memory=1Gi',
    'nodeSelector.role=infra',
    'tolerations[0].key=infra',
    'tolerations[0].operator=Exists',
    'tracer.namespace.name=tracing',
    'tracer.nodeSelector.tracing=allowed',
    'storage.profiles.default.credentialsSecret=s3-creds',
    'replicaCount=3',
    'leaderElection.enabled=false',
  );
  for (const obj of objects.filter((o) => o.apiVersion !== 'tracejob.dev/v1alpha1')) await validateBuiltIn(obj);
  const pod = (find(objects, 'Deployment').spec as { template: { spec: Record<string, never> } }).template.spec;
  const container = (pod.containers as Record<string, never>[])[0]!;
  assert.equal(container.image, 'registry.example.com/tracejob:1.2.3');
  assert.ok(!(container.args as string[]).includes('--leader-elect'));
  assert.deepEqual(pod.imagePullSecrets, [{ name: 'regcred' }]);
  assert.deepEqual(pod.nodeSelector, { role: 'infra' });
  assert.deepEqual(pod.tolerations, [{ key: 'infra', operator: 'Exists' }]);
  assert.equal((container.resources as { limits: { memory: string } }).limits.memory, '1Gi');
  const config = OperatorConfig.parse(
    load((find(objects, 'ConfigMap').data as Record<string, string>)['config.yaml']!),
  );
  assert.equal(config.tracerNamespace, 'tracing');
  assert.equal(config.tracerImage, 'registry.example.com/tracejob:1.2.3');
  assert.deepEqual(config.imagePullSecrets, ['regcred']);
  assert.deepEqual(config.nodeSelector, { tracing: 'allowed' });
  assert.equal(find(objects, 'Role').metadata.namespace, 'tracing');
  assert.ok((find(objects, 'Role').rules as Rule[]).some((r) => r.resourceNames?.includes('s3-creds')));
  assert.equal(find(objects, 'ServiceAccount', 'tracejob-tracer').metadata.namespace, 'tracing');
  assert.equal((find(objects, 'Deployment').spec as { replicas: number }).replicas, 3);
});

test('NODE_OPTIONS bounds the operator heap by default; the value sets or removes it, and only Node flags pass', async () => {
  const envOf = async (...set: string[]) => {
    const pod = (find(await render(...set), 'Deployment').spec as { template: { spec: Record<string, never> } })
      .template.spec;
    const env = ((pod.containers as { env: { name: string; value: string }[] }[])[0]!.env ?? []).filter(
      (e) => e.name === 'NODE_OPTIONS',
    );
    return env.map((e) => e.value);
  };
  assert.deepEqual(await envOf(), ['--max-old-space-size=96']);
  assert.deepEqual(await envOf('nodeOptions=--max-old-space-size=200 --enable-source-maps'), [
    '--max-old-space-size=200 --enable-source-maps',
  ]);
  assert.deepEqual(await envOf('nodeOptions='), []);
  for (const hostile of ['x;rm -rf /', '--require=/tmp/x $(id)', '\\`id\\`']) {
    await assert.rejects(render(`nodeOptions=${hostile}`), /nodeOptions/);
  }
});

test('values.schema.json refuses bad values with the field named', async () => {
  const cases: [string, RegExp][] = [
    ['replicaCount=-1', /replicaCount/],
    ['replicaCount=11', /replicaCount/],
    ['logLevel=loud', /logLevel/],
    ['image.pullPolicy=Sometimes', /pullPolicy/],
    ['tracer.namespace.name=Not_A_Name', /name/],
    ['imagePulSecrets={x}', /imagePulSecrets/],
  ];
  for (const [set, field] of cases) {
    await assert.rejects(render(set), (err: Error & { stderr?: string }) => {
      assert.match(err.stderr ?? '', field, set);
      return true;
    });
  }
});

test("the chart's default TracePolicy admits the everyday examples and refuses the privileged ones by rule", async () => {
  const objects = await render();
  const policy = validateTracePolicy(find(objects, 'TracePolicy', 'default'));
  assert.ok(policy.ok);
  const expected: Record<string, string> = {
    'profile.yaml': 'allowed',
    'perf-record.yaml': 'allowed',
    'perf-stat.yaml': 'allowed',
    'tool-offcputime.yaml': 'allowed',
    'strace-summary.yaml': 'allowed',
    'gdb.yaml': 'allowed',
    'bpftrace-inline.yaml': 'allowedTracers',
    'bpftrace-configmap.yaml': 'allowedTracers',
    'bpftrace-script.yaml': 'allowedTracers',
    'ftrace.yaml': 'allowedTracers',
    'selector.yaml': 'allowedStorageProfiles',
  };
  const seen: Record<string, string> = {};
  for (const { file, obj } of exampleObjects()) {
    if (obj.kind !== 'TraceJob') continue;
    const job = validateTraceJob(obj);
    assert.ok(job.ok, file);
    const decision = evaluatePolicy([policy.value], { 'kubernetes.io/metadata.name': 'demo' }, job.value, {
      inNamespace: 0,
    });
    seen[file] = decision.allowed ? 'allowed' : decision.rule;
  }
  assert.deepEqual(seen, expected);
});

// The chart's RBAC, installed with the real helm and asked with the real `kubectl auth can-i --as` (impersonation and
// SubjectAccessReview): the operator may do what it needs and nothing more, the tracer account nothing at all, and
// namespace users get tracing through the built-in admin/edit/view roles, in their namespace only.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dump } from 'js-yaml';
import type { V1Pod } from '@kubernetes/client-node';
import { localConfig } from '../../src/operator/config.ts';
import { startOperator } from '../../src/operator/index.ts';
import type { ClusterAccess } from '../../src/operator/kubeconfig.ts';
import { NAME_ANNOTATION } from '../../src/operator/names.ts';
import { useCluster, type TestCluster } from '../support/cluster.ts';
import { manifest } from '../operator/builders.ts';
import { Harness, createReadyNode, createRunningPod, finishTracerPod, runTracerPod } from '../operator/harness.ts';

const chart = join(import.meta.dirname, '..', '..', 'charts', 'tracejob-operator');
const suffix = randomBytes(3).toString('hex');
const release = 'tj';
const operatorNs = `tj-op-${suffix}`;
const tracerNs = `tj-tracers-${suffix}`;
const team = `team-${suffix}`;
const other = `other-${suffix}`;
const operatorSa = `system:serviceaccount:${operatorNs}:${release}-tracejob-operator`;
const tracerSa = `system:serviceaccount:${tracerNs}:tracejob-tracer`;
const [editor, viewer, admin] = ['alice', 'bob', 'carol'].map((u) => `${u}-${suffix}`) as [string, string, string];

let cluster: TestCluster;
let resultsDir: string | undefined;

async function ok(what: string, r: Promise<{ stdout: string; stderr: string; code: number }>): Promise<string> {
  const out = await r;
  assert.equal(out.code, 0, `${what} failed (${out.code}):\n${out.stderr}\n${out.stdout}`);
  return out.stdout;
}

before(async () => {
  cluster = await useCluster();
  // replicaCount 0: the RBAC is what is under test, not a running operator.
  await ok(
    'helm install',
    cluster.helm([
      'install',
      release,
      chart,
      '--namespace',
      operatorNs,
      '--create-namespace',
      '--set',
      'replicaCount=0',
      '--set',
      `tracer.namespace.name=${tracerNs}`,
    ]),
  );
  const objects = [
    ...[team, other].map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })),
    ...(
      [
        [editor, 'edit'],
        [viewer, 'view'],
        [admin, 'admin'],
      ] as const
    ).map(([user, role]) => ({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: `${role}-${user}`, namespace: team },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
    })),
  ];
  await ok(
    'apply namespaces and bindings',
    cluster.kubectl(['apply', '-f', '-'], { input: objects.map((o) => dump(o)).join('---\n') }),
  );
});

after(async () => {
  if (resultsDir) await rm(resultsDir, { recursive: true, force: true });
  if (!cluster) return;
  if (cluster.isDevCluster) return cluster.stop();
  await cluster.helm(['uninstall', release, '--namespace', operatorNs]);
  await cluster.kubectl(['delete', 'namespace', operatorNs, tracerNs, team, other, '--wait=false']);
});

/** `kubectl auth can-i` as `subject`: "yes" exits 0, "no" exits 1; anything else is an error of the test. */
async function canI(subject: string, args: string[]): Promise<boolean> {
  const out = await cluster.kubectl(['auth', 'can-i', ...args, `--as=${subject}`]);
  const answer = out.stdout.trim().split('\n')[0];
  assert.ok(
    (answer === 'yes' && out.code === 0) || (answer === 'no' && out.code === 1),
    `can-i ${args.join(' ')} as ${subject}: ${out.code} ${out.stdout} ${out.stderr}`,
  );
  return answer === 'yes';
}

/** Each question asked as `subject`; the assertion lists every answer that differs from the expected one. */
async function expect(subject: string, cases: [args: string, allowed: boolean][]): Promise<void> {
  const wrong: string[] = [];
  for (const [args, allowed] of cases) {
    const answer = await canI(subject, args.split(' '));
    if (answer !== allowed) wrong.push(`${args}: ${answer ? 'yes' : 'no'}, expected ${allowed ? 'yes' : 'no'}`);
  }
  assert.deepEqual(wrong, [], `${subject}:\n  ${wrong.join('\n  ')}`);
}

const TJ = 'tracejobs.tracejob.dev';
const TP = 'tracepolicies.tracejob.dev';

describe('kubectl auth can-i against the installed chart', () => {
  test('the operator: exactly what it needs', async () => {
    await expect(operatorSa, [
      [`list ${TJ} -A`, true],
      [`watch ${TJ} -A`, true],
      [`patch ${TJ} -n ${team}`, true],
      [`delete ${TJ} -n ${team}`, true],
      [`patch ${TJ} --subresource=status -n ${team}`, true],
      [`get pods -n ${team}`, true],
      [`list pods -n ${team}`, true],
      [`get nodes`, true],
      [`get namespaces`, true],
      [`get configmaps -n ${team}`, true],
      [`create events -n ${team}`, true],
      [`list ${TP}`, true],
      [`create pods -n ${tracerNs}`, true],
      [`delete pods -n ${tracerNs}`, true],
      [`watch pods -n ${tracerNs}`, true],
      [`create leases.coordination.k8s.io -n ${tracerNs}`, true],
      // Never: pods elsewhere, exec into anything, the users' specs, policies, secrets, RBAC, tokens.
      [`create pods -n ${team}`, false],
      [`create pods -n kube-system`, false],
      [`create pods -n ${operatorNs}`, false],
      [`delete pods -n ${team}`, false],
      [`watch pods -n ${team}`, false],
      [`create pods --subresource=exec -n ${tracerNs}`, false],
      [`create pods --subresource=exec -n ${team}`, false],
      [`patch pods -n ${tracerNs}`, false],
      [`update ${TJ} -n ${team}`, false],
      [`create ${TJ} -n ${team}`, false],
      [`create ${TP}`, false],
      [`patch ${TP}`, false],
      [`delete ${TP}`, false],
      [`get secrets -A`, false],
      [`get secrets -n ${tracerNs}`, false],
      [`list secrets -n ${team}`, false],
      [`list configmaps -n ${team}`, false],
      [`list namespaces`, false],
      [`patch nodes`, false],
      [`create serviceaccounts --subresource=token -n ${tracerNs}`, false],
      [`create rolebindings.rbac.authorization.k8s.io -n ${tracerNs}`, false],
      [`create clusterrolebindings.rbac.authorization.k8s.io`, false],
      [`bind clusterroles.rbac.authorization.k8s.io`, false],
      [`escalate clusterroles.rbac.authorization.k8s.io`, false],
      [`escalate roles.rbac.authorization.k8s.io -n ${tracerNs}`, false],
      [`impersonate users`, false],
      [`update leases.coordination.k8s.io/some-other-lease -n ${tracerNs}`, false],
      [`create daemonsets.apps -n ${tracerNs}`, false],
      [`* *`, false],
    ]);
  });

  test('the tracer account: nothing', async () => {
    await expect(tracerSa, [
      [`get pods -n ${tracerNs}`, false],
      [`create pods -n ${tracerNs}`, false],
      [`get secrets -n ${tracerNs}`, false],
      [`list ${TJ} -A`, false],
      [`get ${TP}`, false],
      [`get nodes`, false],
      [`get configmaps -n ${tracerNs}`, false],
      [`create events -n ${tracerNs}`, false],
      [`get leases.coordination.k8s.io -n ${tracerNs}`, false],
      [`* *`, false],
    ]);
  });

  test('edit (and admin) in their namespace: TraceJobs through aggregation; no policies, no other namespace', async () => {
    for (const user of [editor, admin]) {
      await expect(user, [
        [`create ${TJ} -n ${team}`, true],
        [`patch ${TJ} -n ${team}`, true],
        [`delete ${TJ} -n ${team}`, true],
        [`get ${TJ} -n ${team}`, true],
        [`create ${TJ} -n ${other}`, false],
        [`create ${TJ} -n ${tracerNs}`, false],
        [`patch ${TJ} --subresource=status -n ${team}`, false],
        [`create ${TP}`, false],
        [`patch ${TP}`, false],
        [`update ${TP}`, false],
        [`delete ${TP}`, false],
        [`create pods -n ${tracerNs}`, false],
      ]);
    }
  });

  test('view: reads TraceJobs, writes nothing', async () => {
    await expect(viewer, [
      [`get ${TJ} -n ${team}`, true],
      [`list ${TJ} -n ${team}`, true],
      [`watch ${TJ} -n ${team}`, true],
      [`get ${TJ} --subresource=status -n ${team}`, true],
      [`create ${TJ} -n ${team}`, false],
      [`patch ${TJ} -n ${team}`, false],
      [`delete ${TJ} -n ${team}`, false],
      [`list ${TJ} -n ${other}`, false],
      [`create ${TP}`, false],
    ]);
  });

  test('the answers hold for real requests: an editor is refused in another namespace and on policies', async () => {
    const job = (ns: string) =>
      dump({
        apiVersion: 'tracejob.dev/v1alpha1',
        kind: 'TraceJob',
        metadata: { name: 'probe', namespace: ns },
        spec: { target: { pod: 'web-0' }, tracer: { type: 'profile' }, duration: '5s' },
      });
    await ok('create in own namespace', cluster.kubectl(['create', '-f', '-', `--as=${editor}`], { input: job(team) }));
    const elsewhere = await cluster.kubectl(['create', '-f', '-', `--as=${editor}`], { input: job(other) });
    assert.notEqual(elsewhere.code, 0);
    assert.match(elsewhere.stderr, /forbidden/i);
    const policy = await cluster.kubectl([
      'patch',
      TP,
      'default',
      '--type=merge',
      '-p',
      '{"spec":{"allowCustomBpftrace":true}}',
      `--as=${editor}`,
    ]);
    assert.notEqual(policy.code, 0);
    assert.match(policy.stderr, /forbidden/i);
    const asViewer = await cluster.kubectl(['delete', TJ, 'probe', '-n', team, `--as=${viewer}`]);
    assert.match(asViewer.stderr, /forbidden/i);
    await ok('editor deletes', cluster.kubectl(['delete', TJ, 'probe', '-n', team, `--as=${editor}`]));
  });

  test('the operator, impersonating its ServiceAccount, runs a TraceJob to the end with only these permissions', async (t) => {
    if (!cluster.isDevCluster) return t.skip('needs fake nodes, which only the development cluster gets here');
    resultsDir = await mkdtemp(join(tmpdir(), 'tracejob-rbac-results-'));
    const h = await Harness.connect(cluster.kubeconfigPath, resultsDir);
    const node = `rbac-node-${suffix}`;
    await createReadyNode(h, node);
    await createRunningPod(h, team, 'web-0', node);
    const asOperator: ClusterAccess = {
      server: h.access.server,
      authenticate: async () => {
        const options = await h.access.authenticate();
        return {
          ...options,
          headers: {
            ...options.headers,
            'Impersonate-User': operatorSa,
            'Impersonate-Group': ['system:serviceaccounts', `system:serviceaccounts:${operatorNs}`],
          },
        };
      },
    };
    const refused: string[] = [];
    const abort = new AbortController();
    const operator = await startOperator({
      access: asOperator,
      config: localConfig(resultsDir, { tracerNamespace: tracerNs, tracerImage: 'localhost/tracejob:dev' }),
      metricsAddr: '127.0.0.1:0',
      leaderElect: true,
      identity: `rbac-${suffix}`,
      signal: abort.signal,
      onRequest: (method, path, code) => {
        if (code === 401 || code === 403) refused.push(`${method} ${path} ${code}`);
      },
    });
    operator.done.catch(() => {});
    try {
      const job = dump({
        apiVersion: 'tracejob.dev/v1alpha1',
        kind: 'TraceJob',
        metadata: { name: 'as-operator', namespace: team },
        spec: { target: { pod: 'web-0' }, tracer: { type: 'profile' }, duration: '5s' },
      });
      await ok('editor creates a TraceJob', cluster.kubectl(['create', '-f', '-', `--as=${editor}`], { input: job }));
      const pod = await h.until(async () => {
        const pods = await h.client.request<{ items: V1Pod[] }>('GET', `/api/v1/namespaces/${tracerNs}/pods`);
        return pods.items.find((p) => p.metadata?.annotations?.[NAME_ANNOTATION] === 'as-operator');
      }, 'the tracer pod');
      assert.equal(pod.spec?.serviceAccountName, 'tracejob-tracer');
      await runTracerPod(h, pod);
      await finishTracerPod(h, pod, {
        exitCode: 0,
        message: JSON.stringify(
          manifest({ targets: [{ namespace: team, pod: 'web-0', state: 'Succeeded', pids: [7] }] }),
        ),
      });
      const { job: done } = await h.phasesUntilFinished(team, 'as-operator');
      assert.equal(done.status?.phase, 'Succeeded', done.status?.message);
      assert.equal(done.status?.policy, 'default');
      await ok(
        'editor deletes it',
        cluster.kubectl(['delete', TJ, 'as-operator', '-n', team, `--as=${editor}`, '--timeout=30s']),
      );
      assert.ok(operator.isLeader(), 'held the lease the chart lets it renew');
      assert.deepEqual(refused, [], 'requests the chart does not allow');
    } catch (err) {
      const status = (await h.getTraceJob(team, 'as-operator'))?.status;
      throw new Error(`${String(err)}; refused: ${refused.join(', ')}; status: ${JSON.stringify(status)}`, {
        cause: err,
      });
    } finally {
      abort.abort();
      await operator.done.catch(() => {});
    }
  });
});

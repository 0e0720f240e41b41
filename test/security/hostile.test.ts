// Issue 9, end to end: hostile TraceJobs through the real controller on a cluster. Each is refused (by the API server's
// schema, or by the controller with a condition naming the rule) or confined; and after every case, every pod in the
// tracer namespace is inspected: image, command, volumes, node, service account and the plan it carries are the
// operator's, never the author's.
import type { V1Pod } from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_PROGRAM_BYTES } from '../../src/api/tracejob.ts';
import { NAME_ANNOTATION, NAMESPACE_ANNOTATION, UID_LABEL } from '../../src/operator/names.ts';
import { PLAN_ENV } from '../../src/operator/tracer-pod.ts';
import type { TraceJobObject } from '../../src/operator/types.ts';
import { RunnerPlanSchema, type RunnerPlan } from '../../src/runner/plan.ts';
import { compileSelector } from '../../src/runner/filter.ts';
import { useCluster, type TestCluster } from '../support/cluster.ts';
import { Harness, TRACER_NS, createReadyNode, createRunningPod } from '../operator/harness.ts';

const NS = 'hostile';
const STRICT = 'strict';
const VICTIM = 'victim';
const FLIP = 'flip';
const NODES = ['fake-1', 'fake-2'];
const FLEET = 1000;
const TJ = '/apis/tracejob.dev/v1alpha1';

let cluster: TestCluster;
let h: Harness;
let resultsDir: string;

/** What each case came to; the figures go to docs/reference.md. */
const tally = { tried: 0, refusedByApiServer: 0, refusedByController: 0, confined: 0 };

const policy = (name: string, namespace: string, spec: Record<string, unknown>) =>
  h.apply(`${TJ}/tracepolicies`, {
    apiVersion: 'tracejob.dev/v1alpha1',
    kind: 'TracePolicy',
    metadata: { name },
    spec: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } }, ...spec },
  } as never);

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: limit }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
    }),
  );
}

before(async () => {
  cluster = await useCluster({ bookmarkIntervalMs: 500 });
  resultsDir = await mkdtemp(join(tmpdir(), 'tracejob-security-results-'));
  h = await Harness.connect(cluster.kubeconfigPath, resultsDir);
  await h.setUp(NS, {
    allowCustomBpftrace: true,
    maxDuration: '10m',
    maxTargets: 5,
    maxConcurrentPerNamespace: 200,
    maxConcurrentPerNode: 200,
  });
  for (const node of NODES) await createReadyNode(h, node);
  for (const ns of [STRICT, VICTIM, FLIP]) await h.apply('/api/v1/namespaces', { metadata: { name: ns } } as never);
  await policy('strict', STRICT, { allowedTracers: ['profile', 'bpftrace'], maxDuration: '1m' });
  await policy('flip', FLIP, {
    allowedTracers: ['profile'],
    allowKernelStacks: true,
    maxDuration: '10m',
    maxConcurrentPerNode: 200,
  });
  await createRunningPod(h, NS, 'web-0', 'fake-1', { app: 'web' });
  await createRunningPod(h, STRICT, 'web-0', 'fake-1', { app: 'web' });
  await createRunningPod(h, FLIP, 'web-0', 'fake-1', { app: 'web' });
  // Another team's pods: same labels, another namespace.
  await createRunningPod(h, VICTIM, 'secret-db', 'fake-2', { app: 'web' });
  await createRunningPod(h, VICTIM, 'web-0', 'fake-2', { app: 'web' });
  const fleet = Array.from({ length: FLEET }, (_, i) => i);
  await mapLimit(fleet, 16, (i) =>
    createRunningPod(h, NS, `fleet-${String(i).padStart(4, '0')}`, NODES[i % 2]!, { fleet: 'many' }),
  );
  await h.client.request('POST', `/api/v1/namespaces/${NS}/configmaps`, {
    body: {
      metadata: { name: 'programs' },
      data: {
        '-rf': 'BEGIN { system("rm -rf /"); printf("$(id) `id` ; reboot\\n"); exit(); }',
        'huge.bt': `BEGIN { exit(); }\n${'// padding\n'.repeat(Math.ceil(MAX_PROGRAM_BYTES / 11) + 1)}`,
      },
    },
  });
  await h.startOperator();
});

after(async () => {
  await h?.stopAll();
  await cluster?.stop();
  if (resultsDir) await rm(resultsDir, { recursive: true, force: true });
  console.log(`security cases: ${JSON.stringify(tally)}`);
});

/** Every pod in the tracer namespace, whoever made it. */
async function allTracerNamespacePods(): Promise<V1Pod[]> {
  return (await h.client.request<{ items: V1Pod[] }>('GET', `/api/v1/namespaces/${TRACER_NS}/pods`)).items;
}

const FIXED_HOST_PATHS = () =>
  new Set(['/sys', '/sys/kernel/tracing', '/sys/kernel/debug', '/lib/modules', '/usr/src', resultsDir]);

/**
 * The confinement every pod in the tracer namespace must show, whatever TraceJob made it: the configured image and
 * command, the tracer account without a token, only the fixed host paths, a node where one of its targets runs, and a
 * plan that parses and names only pods of the TraceJob's own namespace, exactly as the cluster has them.
 */
async function assertConfined(): Promise<Map<string, { pod: V1Pod; plan: RunnerPlan }[]>> {
  const config = h.config();
  const byJob = new Map<string, { pod: V1Pod; plan: RunnerPlan }[]>();
  for (const pod of await allTracerNamespacePods()) {
    const where = `tracer pod ${pod.metadata?.name}`;
    const spec = pod.spec!;
    assert.equal(spec.containers.length, 1, where);
    assert.equal(spec.initContainers, undefined, where);
    assert.equal(spec.ephemeralContainers, undefined, where);
    const [c] = spec.containers;
    assert.equal(c!.image, config.tracerImage, where);
    assert.deepEqual(c!.command, ['tracejob', 'runner'], where);
    assert.equal(c!.args, undefined, where);
    assert.equal(spec.serviceAccountName, config.tracerServiceAccount, where);
    assert.equal(spec.automountServiceAccountToken, false, where);
    assert.ok(!spec.hostNetwork && !spec.hostIPC, where);
    for (const v of spec.volumes ?? []) {
      if (v.hostPath) assert.ok(FIXED_HOST_PATHS().has(v.hostPath.path), `${where}: hostPath ${v.hostPath.path}`);
      else assert.deepEqual(Object.keys(v).sort(), ['emptyDir', 'name'], `${where}: volume ${v.name}`);
    }
    assert.deepEqual(
      (c!.env ?? []).map((e) => e.name),
      [PLAN_ENV],
      `${where}: only the plan in the environment`,
    );
    const plan = RunnerPlanSchema.parse(JSON.parse(c!.env![0]!.value!));
    const namespace = pod.metadata!.annotations![NAMESPACE_ANNOTATION]!;
    const name = pod.metadata!.annotations![NAME_ANNOTATION]!;
    assert.deepEqual([plan.traceJob.namespace, plan.traceJob.name], [namespace, name], where);
    assert.equal(pod.metadata!.labels![UID_LABEL], plan.traceJob.uid, where);
    assert.notEqual(namespace, TRACER_NS, `${where}: a TraceJob of the tracer namespace got a pod`);
    assert.equal(plan.node, spec.nodeName, where);
    assert.deepEqual(plan.storage, config.storage.profiles[config.storage.default], `${where}: storage`);
    assert.ok(plan.targets.length > 0, where);
    for (const t of plan.targets) {
      assert.equal(t.namespace, namespace, `${where}: target ${t.namespace}/${t.pod} outside the TraceJob's namespace`);
      const target = await h.client.request<V1Pod>('GET', `/api/v1/namespaces/${t.namespace}/pods/${t.pod}`);
      assert.equal(target.metadata?.uid, t.podUID, where);
      assert.equal(target.spec?.nodeName, spec.nodeName, `${where}: pinned to a node where its target does not run`);
    }
    const key = `${namespace}/${name}`;
    byJob.set(key, [...(byJob.get(key) ?? []), { pod, plan }]);
  }
  return byJob;
}

type Outcome =
  /** The API server refuses the object; the message names the field. */
  | { refused: RegExp }
  /** The controller refuses it: condition Accepted or TargetsResolved says why, and no tracer pod is made. */
  | { denied: RegExp; reason?: string }
  /** It runs, confined; `check` looks at its plans. */
  | { confined: (plans: RunnerPlan[], job: TraceJobObject) => void | Promise<void> };

interface Case {
  name: string;
  namespace?: string;
  spec?: Record<string, unknown>;
  /** The raw object, for cases that play with metadata or with fields the schema does not know. */
  body?: Record<string, unknown>;
  outcome: Outcome;
}

const profile = { type: 'profile' };
const web = { pod: 'web-0' };
const hostileStrings = ['a;reboot', '$(id)', '`id`', 'a|b&&c>d', '\'"', 'a\nb'];

const cases: Case[] = [
  // Cross-namespace targets.
  {
    name: 'xns-pod-with-namespace',
    spec: { target: { pod: `${VICTIM}/secret-db` }, tracer: profile, duration: '5s' },
    outcome: { refused: /spec\.target\.pod/ },
  },
  {
    name: 'xns-pod-of-another-namespace',
    spec: { target: { pod: 'secret-db' }, tracer: profile, duration: '5s' },
    outcome: { denied: /pod "secret-db" not found in namespace "hostile"/, reason: 'TargetNotFound' },
  },
  {
    name: 'xns-injected-namespace-field',
    spec: { target: { pod: 'secret-db', namespace: VICTIM }, tracer: profile, duration: '5s' },
    outcome: { refused: /unknown field "spec\.target\.namespace"/ },
  },
  {
    name: 'xns-selector-shared-labels',
    spec: { target: { selector: { matchLabels: { app: 'web' } } }, tracer: profile, duration: '5s' },
    outcome: {
      confined: (plans) =>
        assert.deepEqual(
          plans.flatMap((p) => p.targets.map((t) => `${t.namespace}/${t.pod}`)),
          [`${NS}/web-0`],
        ),
    },
  },
  {
    name: 'xns-selector-namespace-label',
    spec: {
      target: {
        selector: {
          matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [VICTIM] }],
        },
      },
      tracer: profile,
      duration: '5s',
    },
    outcome: { denied: /no pod in namespace "hostile" matches/, reason: 'TargetNotFound' },
  },
  {
    name: 'xns-metadata-namespace-mismatch',
    body: { metadata: { name: 'xns-metadata-namespace-mismatch', namespace: VICTIM } },
    spec: { target: web, tracer: profile, duration: '5s' },
    outcome: { refused: /the namespace of the (provided )?object does not match the namespace sent on the request/ },
  },
  // Pod fields the author must not choose: unknown to the schema, so never reaching the tracer pod.
  {
    name: 'pod-fields-smuggled',
    spec: {
      target: { ...web, nodeName: 'fake-2', hostPath: '/' },
      tracer: { type: 'profile', image: 'evil/tracer:latest', command: ['sh', '-c', 'id'] },
      duration: '5s',
      image: 'evil/tracer:latest',
      serviceAccountName: 'default',
      volumes: [{ name: 'root', hostPath: { path: '/' } }],
    },
    outcome: {
      refused:
        /unknown field "spec\.(image|serviceAccountName|volumes|target\.nodeName|target\.hostPath|tracer\.image|tracer\.command)"/,
    },
  },
  {
    name: 'storage-endpoint-smuggled',
    spec: {
      target: web,
      tracer: profile,
      duration: '5s',
      storage: { type: 's3', endpoint: 'http://attacker.example', bucket: 'x' },
    },
    outcome: { refused: /spec\.storage/ },
  },
  {
    name: 'storage-profile-not-allowed',
    namespace: STRICT,
    spec: { target: web, tracer: profile, duration: '5s', storage: 'elsewhere' },
    outcome: { denied: /TracePolicy "strict" rule allowedStorageProfiles/ },
  },
  // Shell metacharacters and newlines in every string field the schema lets through as data.
  ...hostileStrings.map((s, i): Case => ({
    name: `meta-comm-${i}`,
    spec: { target: { ...web, process: { comm: s } }, tracer: profile, duration: '5s' },
    outcome: s.includes('\n')
      ? { refused: /spec\.target\.process\.comm/ }
      : { confined: (plans) => assert.equal(plans[0]!.process?.comm, s) },
  })),
  ...hostileStrings.map((s, i): Case => ({
    name: `meta-exe-${i}`,
    spec: { target: { ...web, process: { exe: `/usr/bin/${s}` } }, tracer: profile, duration: '5s' },
    outcome: s.includes('\n')
      ? { refused: /spec\.target\.process\.exe/ }
      : { confined: (plans) => assert.equal(plans[0]!.process?.exe, `/usr/bin/${s}`) },
  })),
  ...['x;$(reboot)|`id`', 'a\nb', "'; rm -rf / #"].map((s, i): Case => ({
    name: `meta-cmdline-${i}`,
    spec: { target: { ...web, process: { cmdline: s } }, tracer: profile, duration: '5s' },
    outcome: { confined: (plans) => assert.equal(plans[0]!.process?.cmdline, s) },
  })),
  {
    name: 'meta-bpftrace-program',
    spec: {
      target: web,
      tracer: { type: 'bpftrace', bpftrace: { program: 'BEGIN {\n system("id; reboot"); printf("$(id)`id`\\n");\n}' } },
      duration: '5s',
    },
    outcome: { confined: (plans) => assert.match(plans[0]!.tracer.bpftrace?.program ?? '', /system\("id; reboot"\)/) },
  },
  {
    name: 'meta-configmap-key',
    spec: {
      target: web,
      tracer: { type: 'bpftrace', bpftrace: { programFrom: { configMapKeyRef: { name: 'programs', key: '-rf' } } } },
      duration: '5s',
    },
    // The program travels as data in the plan; the key reaches no command line.
    outcome: {
      confined: (plans) => {
        assert.match(plans[0]!.tracer.bpftrace?.program ?? '', /^BEGIN \{ system\("rm -rf \/"\)/);
        assert.equal(plans[0]!.tracer.bpftrace?.programFrom, undefined);
      },
    },
  },
  ...['a;b', 'a\nb', '$(id)', '../x'].map((key, i): Case => ({
    name: `meta-configmap-key-refused-${i}`,
    spec: {
      target: web,
      tracer: { type: 'bpftrace', bpftrace: { programFrom: { configMapKeyRef: { name: 'programs', key } } } },
      duration: '5s',
    },
    outcome: { refused: /spec\.tracer\.bpftrace\.programFrom\.configMapKeyRef\.key/ },
  })),
  ...['app;id', 'app\n', '$(id)'].map((container, i): Case => ({
    name: `meta-container-${i}`,
    spec: { target: { ...web, container }, tracer: profile, duration: '5s' },
    outcome: { refused: /spec\.target\.container/ },
  })),
  ...['--pid=1;id', '$(id)', '-p\n1'].map((arg, i): Case => ({
    name: `meta-tool-arg-${i}`,
    spec: { target: web, tracer: { type: 'tool', tool: { name: 'offcputime', args: [arg] } }, duration: '5s' },
    outcome: { refused: /spec\.tracer\.tool\.args/ },
  })),
  ...['sched:x;id', '$(id)'].map((event, i): Case => ({
    name: `meta-perf-event-${i}`,
    spec: { target: web, tracer: { type: 'perf', perf: { events: [event] } }, duration: '5s' },
    outcome: { refused: /spec\.tracer\.perf\.events/ },
  })),
  ...['vfs_*;id', '`id`'].map((fn, i): Case => ({
    name: `meta-ftrace-function-${i}`,
    spec: { target: web, tracer: { type: 'ftrace', ftrace: { functions: [fn] } }, duration: '5s' },
    outcome: { refused: /spec\.tracer\.ftrace\.functions/ },
  })),
  ...['openat;id', '$(id)'].map((sc, i): Case => ({
    name: `meta-strace-syscall-${i}`,
    spec: { target: web, tracer: { type: 'strace', strace: { syscalls: [sc] } }, duration: '5s' },
    outcome: { refused: /spec\.tracer\.strace\.syscalls/ },
  })),
  // Huge programs.
  {
    name: 'huge-program-inline',
    spec: {
      target: web,
      tracer: { type: 'bpftrace', bpftrace: { program: `BEGIN{}${' '.repeat(MAX_PROGRAM_BYTES)}` } },
      duration: '5s',
    },
    outcome: { refused: /spec\.tracer\.bpftrace\.program/ },
  },
  {
    name: 'huge-program-configmap',
    spec: {
      target: web,
      tracer: {
        type: 'bpftrace',
        bpftrace: { programFrom: { configMapKeyRef: { name: 'programs', key: 'huge.bt' } } },
      },
      duration: '5s',
    },
    outcome: {
      denied:
        /spec\.tracer\.bpftrace\.programFrom: the program in ConfigMap "programs" is \d+ bytes; accepted: at most 16384/,
      reason: 'InvalidSpec',
    },
  },
  {
    name: 'program-configmap-of-another-namespace',
    spec: {
      target: web,
      tracer: {
        type: 'bpftrace',
        bpftrace: { programFrom: { configMapKeyRef: { name: `${VICTIM}/programs`, key: 'x' } } },
      },
      duration: '5s',
    },
    outcome: { refused: /configMapKeyRef\.name/ },
  },
  // Catastrophic regular expressions: RE2 has no backtracking; what it cannot express is refused.
  {
    name: 'regex-nested-quantifiers',
    spec: { target: { ...web, process: { cmdline: '^(a+)+$' } }, tracer: profile, duration: '5s' },
    outcome: { confined: (plans) => assert.equal(plans[0]!.process?.cmdline, '^(a+)+$') },
  },
  {
    name: 'regex-backreference',
    spec: { target: { ...web, process: { cmdline: '(a*)*\\1' } }, tracer: profile, duration: '5s' },
    // No RE2 in the API server: the controller refuses it.
    outcome: { denied: /spec\.target\.process\.cmdline: .*RE2/, reason: 'InvalidSpec' },
  },
  {
    name: 'regex-lookahead',
    spec: { target: { ...web, process: { cmdline: '(?=a)+a' } }, tracer: profile, duration: '5s' },
    // No RE2 in the API server: the controller refuses it.
    outcome: { denied: /spec\.target\.process\.cmdline: .*RE2/, reason: 'InvalidSpec' },
  },
  {
    name: 'regex-huge-repeat',
    spec: { target: { ...web, process: { cmdline: '((a{1000}){1000}){1000}' } }, tracer: profile, duration: '5s' },
    // No RE2 in the API server: the controller refuses it.
    outcome: { denied: /spec\.target\.process\.cmdline: .*RE2/, reason: 'InvalidSpec' },
  },
  {
    name: 'regex-too-long',
    spec: { target: { ...web, process: { cmdline: 'a'.repeat(257) } }, tracer: profile, duration: '5s' },
    outcome: { refused: /spec\.target\.process\.cmdline/ },
  },
  // Durations.
  ...['0s', '-5s', '2h', '1e3s', '5s;id', '3601s'].map((duration, i): Case => ({
    name: `duration-out-of-bounds-${i}`,
    spec: { target: web, tracer: profile, duration },
    outcome: { refused: /spec\.duration/ },
  })),
  {
    name: 'duration-over-policy',
    spec: { target: web, tracer: profile, duration: '59m' },
    outcome: {
      denied: /TracePolicy "allow-hostile" rule maxDuration: spec\.duration 59m is longer than the 10m allowed/,
    },
  },
  {
    name: 'duration-over-strict-policy',
    namespace: STRICT,
    spec: { target: web, tracer: { type: 'profile', profile: { kernelStacks: false } }, duration: '61s' },
    outcome: { denied: /TracePolicy "strict" rule maxDuration/ },
  },
  // Fan-out.
  {
    name: 'selector-fleet',
    spec: {
      target: { selector: { matchLabels: { fleet: 'many' } }, maxTargets: 100 },
      tracer: profile,
      duration: '5s',
    },
    outcome: {
      confined: (plans, job) => {
        assert.equal(plans.flatMap((p) => p.targets).length, 5);
        assert.match(
          job.status?.message ?? '',
          new RegExp(`not traced: ${FLEET - 5} more matching pod\\(s\\) beyond maxTargets 5`),
        );
      },
    },
  },
  {
    name: 'selector-everything',
    spec: {
      target: { selector: { matchExpressions: [{ key: 'no-such-label', operator: 'DoesNotExist' }] }, maxTargets: 100 },
      tracer: profile,
      duration: '5s',
    },
    outcome: {
      confined: (plans, job) => {
        assert.equal(plans.flatMap((p) => p.targets).length, 5);
        assert.match(job.status?.message ?? '', new RegExp(`not traced: ${FLEET + 1 - 5} more matching pod`));
      },
    },
  },
  {
    name: 'selector-empty',
    spec: { target: { selector: {} }, tracer: profile, duration: '5s' },
    outcome: { refused: /spec\.target\.selector/ },
  },
  {
    name: 'max-targets-over-limit',
    spec: {
      target: { selector: { matchLabels: { fleet: 'many' } }, maxTargets: 100000 },
      tracer: profile,
      duration: '5s',
    },
    outcome: { refused: /spec\.target\.maxTargets/ },
  },
  // Names at the length limits.
  {
    name: 'n'.repeat(63),
    spec: { target: web, tracer: profile, duration: '5s' },
    outcome: {
      confined: (plans) => {
        assert.equal(plans[0]!.traceJob.name.length, 63);
      },
    },
  },
  {
    name: 'n'.repeat(64),
    spec: { target: web, tracer: profile, duration: '5s' },
    outcome: { refused: /63/ },
  },
  {
    // A valid object name for a custom resource, but not a label-safe one: refused by the CRD's CEL rule.
    name: `${'a'.repeat(61)}.b`,
    spec: { target: web, tracer: profile, duration: '5s' },
    outcome: { refused: /metadata\.name: accepted: lowercase letters, digits and "-"/ },
  },
  // The operator's own namespace.
  {
    name: 'in-tracer-namespace',
    namespace: TRACER_NS,
    spec: { target: { pod: 'anything' }, tracer: profile, duration: '5s' },
    outcome: { denied: /not accepted in namespace "tracejob-system"/ },
  },
  // Custom bpftrace without allowCustomBpftrace.
  {
    name: 'bpftrace-custom-refused',
    namespace: STRICT,
    spec: { target: web, tracer: { type: 'bpftrace', bpftrace: { program: 'BEGIN { exit(); }' } }, duration: '5s' },
    outcome: { denied: /TracePolicy "strict" rule allowCustomBpftrace/ },
  },
  {
    name: 'bpftrace-configmap-refused',
    namespace: STRICT,
    spec: {
      target: web,
      tracer: { type: 'bpftrace', bpftrace: { programFrom: { configMapKeyRef: { name: 'programs', key: '-rf' } } } },
      duration: '5s',
    },
    outcome: { denied: /TracePolicy "strict" rule allowCustomBpftrace/ },
  },
  {
    name: 'no-policy-namespace',
    namespace: VICTIM,
    spec: { target: { pod: 'secret-db' }, tracer: profile, duration: '5s' },
    outcome: { denied: /no TracePolicy selects namespace "victim"/ },
  },
];

async function create(c: Omit<Case, 'outcome'>): Promise<TraceJobObject | Error> {
  const namespace = c.namespace ?? NS;
  const body = {
    apiVersion: 'tracejob.dev/v1alpha1',
    kind: 'TraceJob',
    metadata: { name: c.name },
    spec: c.spec,
    ...c.body,
  };
  try {
    // fieldValidation=Strict, as kubectl sends it: unknown fields are refused rather than dropped in silence.
    return await h.client.request<TraceJobObject>('POST', `${TJ}/namespaces/${namespace}/tracejobs`, {
      body,
      query: { fieldValidation: 'Strict' },
    });
  } catch (err) {
    return err as Error;
  }
}

function condition(job: TraceJobObject, type: string) {
  return job.status?.conditions?.find((c) => c.type === type);
}

describe('hostile TraceJobs through the controller', () => {
  for (const c of cases) {
    test(`${c.name.length > 40 ? `${c.name.slice(0, 12)}…(${c.name.length} chars)` : c.name}`, async () => {
      tally.tried++;
      const namespace = c.namespace ?? NS;
      const created = await create(c);
      const outcome = c.outcome;
      if ('refused' in outcome) {
        assert.ok(created instanceof Error, `the API server accepted ${c.name}`);
        assert.match(created.message, outcome.refused);
        tally.refusedByApiServer++;
      } else {
        assert.ok(!(created instanceof Error), `refused at admission: ${String(created)}`);
        if ('denied' in outcome) {
          const { job } = await h.phasesUntilFinished(namespace, c.name, 30_000);
          assert.equal(job.status?.phase, 'Failed');
          const reason = outcome.reason ?? 'PolicyDenied';
          const cond =
            reason === 'PolicyDenied' || reason === 'InvalidSpec'
              ? condition(job, 'Accepted')
              : condition(job, 'TargetsResolved');
          assert.deepEqual([cond?.status, cond?.reason], ['False', reason], JSON.stringify(job.status?.conditions));
          assert.match(job.status?.message ?? '', outcome.denied);
          assert.match(cond?.message ?? '', outcome.denied);
          tally.refusedByController++;
        } else {
          const plans = await h.until(async () => {
            const pods = (await assertConfined()).get(`${namespace}/${c.name}`);
            return pods?.length ? pods.map((p) => p.plan) : undefined;
          }, `the tracer pod of ${c.name}`);
          const job = await h.until(async () => {
            const job = await h.getTraceJob(namespace, c.name);
            return job?.status?.phase ? job : undefined;
          }, `the status of ${c.name}`);
          await outcome.confined(plans, job);
          tally.confined++;
        }
      }
      // Whatever the outcome, every pod in the tracer namespace is still confined, and a refused one made none.
      const byJob = await assertConfined();
      if (!('confined' in outcome)) assert.equal(byJob.get(`${namespace}/${c.name}`), undefined, 'no tracer pod');
    });
  }

  test('a policy changed while a TraceJob runs: the running one keeps its admission, the next one meets the new rules', async () => {
    tally.tried++;
    const running = await create({
      name: 'before-flip',
      namespace: FLIP,
      spec: { target: web, tracer: profile, duration: '5m' },
    });
    assert.ok(!(running instanceof Error), String(running));
    await h.until(async () => (await assertConfined()).get(`${FLIP}/before-flip`), 'the tracer pod of before-flip');
    await h.client.request('PATCH', `${TJ}/tracepolicies/flip`, {
      contentType: 'application/merge-patch+json',
      body: { spec: { allowedTracers: ['strace'], maxDuration: '1m' } },
    });
    // A reconcile of the running one after the change (a label edit brings one) changes nothing.
    await h.client.request('PATCH', `${TJ}/namespaces/${FLIP}/tracejobs/before-flip`, {
      contentType: 'application/merge-patch+json',
      body: { metadata: { labels: { poked: 'yes' } } },
    });
    const after = await create({
      name: 'after-flip',
      namespace: FLIP,
      spec: { target: web, tracer: profile, duration: '5m' },
    });
    assert.ok(!(after instanceof Error), String(after));
    const { job: denied } = await h.phasesUntilFinished(FLIP, 'after-flip', 30_000);
    assert.match(
      denied.status?.message ?? '',
      /TracePolicy "flip" rule allowedTracers: tracer type profile is not allowed/,
    );
    await sleep(1_500);
    const [{ plan }] = (await assertConfined()).get(`${FLIP}/before-flip`)!;
    assert.equal(plan!.durationSeconds, 300, 'the admitted duration stands');
    const job = await h.getTraceJob(FLIP, 'before-flip');
    assert.notEqual(job?.status?.phase, 'Failed');
    assert.equal(job?.status?.policy, 'flip');
    assert.equal((await assertConfined()).get(`${FLIP}/after-flip`), undefined);
    tally.refusedByController++;
  });

  test('the runner matches a catastrophic pattern in linear time (RE2)', () => {
    // A backtracking engine needs 2^n steps for this pattern on n "a"s followed by a mismatch; n = 100,000 here.
    const matches = compileSelector({ cmdline: '^(a+)+$' });
    const proc = (cmdline: string) => ({ pid: 1, nsPid: 1, comm: 'x', exe: '/x', cmdline: [cmdline] });
    const started = process.hrtime.bigint();
    assert.equal(matches(proc(`${'a'.repeat(100_000)}!`)), false);
    assert.equal(matches(proc('a'.repeat(100_000))), true);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.ok(ms < 10_000, `${ms} ms`);
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseRunnerPlan } from '../../src/runner/plan.ts';
import { KubeApiError, TerminalError, classifyError } from '../../src/operator/errors.ts';
import { ownerKeyOfTracerPod, tracerPodName } from '../../src/operator/names.ts';
import { resolveTargets } from '../../src/operator/targets.ts';
import { desiredTracerPods, PLAN_ENV } from '../../src/operator/tracer-pod.ts';
import { OperatorConfig } from '../../src/operator/config.ts';
import { config, node, podInput, targetPod } from './builders.ts';

const readyNodes = new Map([
  ['node-1', node('node-1')],
  ['node-2', node('node-2')],
]);

describe('resolveTargets', () => {
  const query = { namespace: 'team-a', pod: 'web-0', maxTargets: 10 };
  const cases: {
    name: string;
    pods: ReturnType<typeof targetPod>[];
    nodes?: Map<string, ReturnType<typeof node> | undefined>;
    query?: Partial<typeof query> & { container?: string };
    targets: string[];
    problem?: string;
    message?: RegExp;
  }[] = [
    { name: 'a running pod', pods: [targetPod('web-0')], targets: ['web-0/app@node-1'] },
    { name: 'no such pod', pods: [], targets: [], problem: 'TargetNotFound', message: /pod "web-0" not found/ },
    {
      name: 'selector matching nothing',
      pods: [],
      query: { pod: undefined },
      targets: [],
      problem: 'TargetNotFound',
      message: /no pod .* matches spec.target.selector/,
    },
    {
      name: 'pod still pending',
      pods: [targetPod('web-0', { phase: 'Pending', running: false })],
      targets: [],
      problem: 'TargetNotRunning',
      message: /Pending, not Running/,
    },
    {
      name: 'pod being deleted',
      pods: [targetPod('web-0', { deleting: true })],
      targets: [],
      problem: 'TargetNotRunning',
      message: /being deleted/,
    },
    {
      name: 'container not started',
      pods: [targetPod('web-0', { running: false })],
      targets: [],
      problem: 'TargetNotRunning',
      message: /ContainerCreating/,
    },
    {
      name: 'named container missing',
      pods: [targetPod('web-0')],
      query: { container: 'sidecar' },
      targets: [],
      problem: 'TargetNotFound',
      message: /no container "sidecar"; its containers: app/,
    },
    {
      name: 'node not ready',
      pods: [targetPod('web-0')],
      nodes: new Map([['node-1', node('node-1', false)]]),
      targets: [],
      problem: 'NodeNotReady',
      message: /not Ready/,
    },
    {
      name: 'node gone',
      pods: [targetPod('web-0')],
      nodes: new Map([['node-1', undefined]]),
      targets: [],
      problem: 'NodeNotReady',
      message: /not found/,
    },
    {
      name: 'default-container annotation wins over the first container',
      pods: [
        targetPod('web-0', {
          containers: ['istio-proxy', 'app'],
          annotations: { 'kubectl.kubernetes.io/default-container': 'app' },
        }),
      ],
      targets: ['web-0/app@node-1'],
    },
    {
      name: 'first container without annotation',
      pods: [targetPod('web-0', { containers: ['main', 'sidecar'] })],
      targets: ['web-0/main@node-1'],
    },
    {
      name: 'selector: name order, capped, problems kept',
      pods: [
        targetPod('web-2', { node: 'node-2' }),
        targetPod('web-0'),
        targetPod('web-1', { phase: 'Pending', running: false }),
        targetPod('web-3', { node: 'node-2' }),
      ],
      query: { pod: undefined, maxTargets: 2 },
      targets: ['web-0/app@node-1', 'web-2/app@node-2'],
      problem: 'TargetNotRunning',
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const result = resolveTargets({ ...query, ...c.query }, c.pods, c.nodes ?? readyNodes);
      assert.deepEqual(
        result.targets.map((t) => `${t.pod}/${t.container}@${t.node}`),
        c.targets,
      );
      if (c.problem) assert.equal(result.problems[0]?.reason, c.problem);
      else assert.deepEqual(result.problems, []);
      if (c.message) assert.match(result.problems[0]!.message, c.message);
    });
  }
  test('reports pods left out by maxTargets', () => {
    const pods = ['a', 'b', 'c'].map((n) => targetPod(`web-${n}`));
    const result = resolveTargets({ namespace: 'team-a', maxTargets: 1 }, pods, readyNodes);
    assert.equal(result.targets.length, 1);
    assert.equal(result.omitted, 2);
  });
  test('carries the IDs the runner needs', () => {
    const [t] = resolveTargets(query, [targetPod('web-0')], readyNodes).targets;
    assert.match(t!.containerID, /^containerd:\/\/[0-9a-f]{64}$/);
    assert.equal(t!.qosClass, 'Burstable');
    assert.ok(t!.podUID);
  });
});

describe('tracerPodName', () => {
  test('deterministic, per (uid, node), a DNS label of at most 63 characters', () => {
    const a = tracerPodName('web-profile', 'uid-1', 'node-1');
    assert.equal(a, tracerPodName('web-profile', 'uid-1', 'node-1'));
    assert.notEqual(a, tracerPodName('web-profile', 'uid-1', 'node-2'));
    assert.notEqual(a, tracerPodName('web-profile', 'uid-2', 'node-1'));
    const long = tracerPodName('x'.repeat(253), 'uid', 'n'.repeat(253));
    for (const name of [a, long, tracerPodName('a.b.c', 'u', 'n'), tracerPodName('---', 'u', 'n')]) {
      assert.ok(name.length <= 63, name);
      assert.match(name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
  });
});

describe('desiredTracerPods', () => {
  const targets = resolveTargets(
    { namespace: 'team-a', maxTargets: 10 },
    [targetPod('web-0'), targetPod('web-1'), targetPod('web-2', { node: 'node-2' })],
    readyNodes,
  ).targets;
  const pods = desiredTracerPods(podInput(), targets, config);

  test('one pod per node, pinned, in the operator namespace, pointing back to the TraceJob', () => {
    assert.deepEqual(
      pods.map((p) => p.spec!.nodeName),
      ['node-1', 'node-2'],
    );
    for (const pod of pods) {
      assert.equal(pod.metadata!.namespace, 'tracejob-system');
      assert.equal(ownerKeyOfTracerPod(pod), 'team-a/web-profile');
      assert.equal(pod.metadata!.labels!['tracejob.dev/uid'], podInput().uid);
      assert.equal(pod.metadata!.name, tracerPodName('web-profile', podInput().uid, pod.spec!.nodeName!));
    }
  });

  test('the plan validates against the runner schema and holds only that node’s targets', () => {
    const plans = pods.map((p) => parseRunnerPlan(p.spec!.containers[0]!.env!.find((e) => e.name === PLAN_ENV)!.value));
    assert.deepEqual(
      plans.map((p) => p.targets.map((t) => t.pod)),
      [['web-0', 'web-1'], ['web-2']],
    );
    assert.equal(plans[0]!.durationSeconds, 30);
    assert.equal(plans[0]!.traceJob.uid, podInput().uid);
  });

  test('privileged with hostPID, bounded, no API token, every taint tolerated', () => {
    const spec = pods[0]!.spec!;
    const c = spec.containers[0]!;
    assert.equal(spec.hostPID, true);
    assert.equal(c.securityContext?.privileged, true);
    assert.equal(spec.restartPolicy, 'Never');
    assert.equal(spec.activeDeadlineSeconds, 30 + config.deadlineMarginSeconds);
    assert.equal(spec.automountServiceAccountToken, false);
    assert.equal(spec.serviceAccountName, config.tracerServiceAccount);
    assert.deepEqual(spec.tolerations, [{ operator: 'Exists' }]);
    assert.deepEqual(c.command, ['tracejob', 'runner']);
    assert.equal(c.image, config.tracerImage);
    assert.equal(c.terminationMessagePath, '/dev/termination-log');
    assert.equal(c.terminationMessagePolicy, 'FallbackToLogsOnError');
    assert.ok(c.resources?.limits?.memory);
  });

  test('host paths: kernel interfaces read-only except tracefs/debugfs, results dir for the local sink', () => {
    const c = pods[0]!.spec!.containers[0]!;
    const mounts = Object.fromEntries(c.volumeMounts!.map((m) => [m.mountPath, m.readOnly ?? false]));
    assert.deepEqual(mounts, {
      '/sys': true,
      '/sys/kernel/tracing': false,
      '/sys/kernel/debug': false,
      '/lib/modules': true,
      '/usr/src': true,
      '/var/lib/tracejob/results': false,
      '/tmp': false,
    });
  });

  test('ptrace-only tracers get SYS_PTRACE instead of privileged', () => {
    const [pod] = desiredTracerPods(
      podInput({
        tracer: { type: 'strace', strace: { mode: 'summary', syscalls: [], maxOutputBytes: 1024 } } as never,
      }),
      targets,
      config,
    );
    const sc = pod!.spec!.containers[0]!.securityContext!;
    assert.equal(sc.privileged, false);
    assert.deepEqual(sc.capabilities?.drop, ['ALL']);
    assert.ok(sc.capabilities?.add?.includes('SYS_PTRACE'));
  });

  test('S3 credentials reach the pod only as secretKeyRef env, never in the plan', () => {
    const s3 = OperatorConfig.parse({
      storage: {
        default: 's3',
        profiles: {
          s3: { type: 's3', region: 'us-east-1', bucket: 'traces', credentialsSecret: 'tracejob-s3' },
        },
      },
    });
    const profile = { name: 's3', config: s3.storage.profiles.s3! };
    const [pod] = desiredTracerPods(podInput({ storage: profile }), targets, s3);
    const env = pod!.spec!.containers[0]!.env!;
    const creds = env.filter((e) => e.name.startsWith('AWS_'));
    assert.ok(creds.length >= 2);
    for (const e of creds) {
      assert.equal(e.value, undefined);
      assert.equal(e.valueFrom?.secretKeyRef?.name, 'tracejob-s3');
    }
    assert.ok(!pod!.spec!.volumes!.some((v) => v.name === 'results'));
  });
});

describe('classifyError', () => {
  const cases: [string, unknown, string, number?][] = [
    ['conflict', new KubeApiError(409, 'Conflict', 'stale'), 'retry'],
    ['server error', new KubeApiError(500, 'InternalError', 'boom'), 'retry'],
    ['unavailable', new KubeApiError(503, 'ServiceUnavailable', 'later'), 'retry'],
    ['throttled with Retry-After', new KubeApiError(429, 'TooManyRequests', 'slow down', 7), 'requeueAfter', 7],
    ['throttled without Retry-After', new KubeApiError(429, 'TooManyRequests', 'slow down'), 'requeueAfter', 1],
    ['unavailable with Retry-After', new KubeApiError(503, 'ServiceUnavailable', 'x', 3), 'requeueAfter', 3],
    ['huge Retry-After is capped', new KubeApiError(429, 'TooManyRequests', 'x', 99999), 'requeueAfter', 300],
    ['invalid', new KubeApiError(422, 'Invalid', 'bad pod'), 'terminal'],
    ['forbidden (RBAC or ServiceAccount not yet installed)', new KubeApiError(403, 'Forbidden', 'rbac'), 'retry'],
    ['bad request', new KubeApiError(400, 'BadRequest', 'malformed'), 'terminal'],
    ['terminal error', new TerminalError('no such ConfigMap'), 'terminal'],
    ['connection reset', Object.assign(new Error('ECONNRESET'), { code: 'ECONNRESET' }), 'retry'],
  ];
  for (const [name, err, kind, seconds] of cases) {
    test(name, () => {
      const verdict = classifyError(err);
      assert.equal(verdict.kind, kind);
      if (seconds !== undefined) assert.equal(verdict.kind === 'requeueAfter' && verdict.seconds, seconds);
    });
  }
});

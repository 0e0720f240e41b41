import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  failedBeforeStart,
  mergeSummaries,
  sameStatus,
  setCondition,
  tracingStatus,
  waitingToStart,
  type TracingInput,
} from '../../src/operator/status.ts';
import { resolveTargets } from '../../src/operator/targets.ts';
import { manifest, node, targetPod, traceJobObject, tracerPodIn } from './builders.ts';

const t0 = new Date('2026-01-01T00:00:00Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
const targets = resolveTargets(
  { namespace: 'team-a', pod: 'web-0', maxTargets: 10 },
  [targetPod('web-0')],
  new Map([['node-1', node('node-1')]]),
).targets;

function input(pod: TracingInput['tracers'][number]['pod'], extra: Partial<TracingInput> = {}): TracingInput {
  return {
    targets,
    skipped: [],
    lost: new Map(),
    tracers: [{ node: 'node-1', name: 'tj-web-profile-abc', pod }],
    startTime: t0.toISOString(),
    deadline: at(180),
    startTimeoutSeconds: 300,
    ...extra,
  };
}

const condition = (status: { conditions?: { type: string; status: string; reason: string }[] }, type: string) =>
  status.conditions?.find((c) => c.type === type);

describe('setCondition', () => {
  test('lastTransitionTime moves only when the status flips', () => {
    let conditions = setCondition([], { type: 'Running', status: 'False', reason: 'A', message: 'a' }, at(0));
    conditions = setCondition(conditions, { type: 'Running', status: 'False', reason: 'B', message: 'b' }, at(5));
    assert.equal(conditions[0]!.lastTransitionTime, at(0).toISOString());
    assert.equal(conditions[0]!.reason, 'B');
    conditions = setCondition(conditions, { type: 'Running', status: 'True', reason: 'C', message: 'c' }, at(9));
    assert.equal(conditions[0]!.lastTransitionTime, at(9).toISOString());
    assert.equal(conditions.length, 1);
  });
});

describe('tracingStatus', () => {
  const job = traceJobObject();
  const cases: {
    name: string;
    pod: ReturnType<typeof tracerPodIn> | undefined;
    now?: Date;
    extra?: Partial<TracingInput>;
    phase: string;
    reason?: string;
    message?: RegExp;
    targetState?: string;
  }[] = [
    { name: 'created, not yet in the cache', pod: undefined, phase: 'Pending', targetState: 'Pending' },
    {
      name: 'pulling its image',
      pod: tracerPodIn('p', 'Pending', { waiting: 'ErrImagePull' }),
      phase: 'Pending',
      message: /ErrImagePull/,
    },
    {
      name: 'stuck pending past the start timeout',
      pod: tracerPodIn('p', 'Pending', { waiting: 'ImagePullBackOff' }),
      now: at(301),
      phase: 'Failed',
      reason: 'TracerFailed',
      message: /did not start within 300s \(ImagePullBackOff\)/,
    },
    { name: 'running', pod: tracerPodIn('p', 'Running'), phase: 'Running', targetState: 'Running' },
    {
      name: 'succeeded with a manifest',
      pod: tracerPodIn('p', 'Succeeded', { message: JSON.stringify(manifest()) }),
      phase: 'Succeeded',
      targetState: 'Succeeded',
    },
    {
      name: 'exited 0 without a manifest',
      pod: tracerPodIn('p', 'Succeeded', { message: 'done\n' }),
      phase: 'Failed',
      reason: 'TracerFailed',
      message: /without a result manifest; output:\ndone/,
    },
    {
      name: 'crashed: the message carries the output tail',
      pod: tracerPodIn('p', 'Failed', {
        exitCode: 3,
        message: Array.from({ length: 40 }, (_, i) => `line ${i}`).join('\n') + '\nperf: permission denied\n',
      }),
      phase: 'Failed',
      reason: 'TracerFailed',
      message: /exited with code 3; output:\n(line \d+\n){11}perf: permission denied$/,
      targetState: 'Failed',
    },
    {
      name: 'runner reports an upload failure',
      pod: tracerPodIn('p', 'Failed', {
        exitCode: 1,
        message: JSON.stringify(
          manifest({ state: 'Failed', reason: 'UploadFailed', message: 'PUT s3://traces/x: 403 AccessDenied' }),
        ),
      }),
      phase: 'Failed',
      reason: 'UploadFailed',
      message: /403 AccessDenied/,
    },
    {
      name: 'killed by activeDeadlineSeconds',
      pod: tracerPodIn('p', 'Failed', { reason: 'DeadlineExceeded' }),
      phase: 'Failed',
      reason: 'DeadlineExceeded',
      message: /past its deadline/,
    },
    {
      name: 'still running after the controller deadline',
      pod: tracerPodIn('p', 'Running'),
      now: at(181),
      phase: 'Failed',
      reason: 'DeadlineExceeded',
    },
    {
      name: 'deleted by someone else',
      pod: undefined,
      extra: { tracers: [{ node: 'node-1', name: 'tj-x', gone: true }] },
      phase: 'Failed',
      reason: 'TracerFailed',
      message: /was deleted before it finished/,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const status = tracingStatus(job, input(c.pod, c.extra), c.now ?? at(10));
      assert.equal(status.phase, c.phase);
      assert.equal(status.observedGeneration, 1);
      assert.equal(condition(status, 'Accepted')?.status, 'True');
      assert.equal(condition(status, 'TargetsResolved')?.status, 'True');
      assert.equal(condition(status, 'Running')?.status, c.phase === 'Running' ? 'True' : 'False');
      if (c.phase === 'Failed') {
        assert.equal(condition(status, 'Failed')?.status, 'True');
        assert.equal(condition(status, 'Failed')?.reason, c.reason);
        assert.ok(status.completionTime);
      } else if (c.phase === 'Succeeded') {
        assert.equal(condition(status, 'Complete')?.status, 'True');
        assert.ok(status.completionTime);
      } else assert.equal(status.completionTime, undefined);
      if (c.message) assert.match(status.message ?? '', c.message);
      if (c.targetState) assert.equal(status.targets?.[0]?.state, c.targetState);
    });
  }

  test('success copies artifacts, summary, pids, and keeps the start time', () => {
    const status = tracingStatus(
      job,
      input(tracerPodIn('p', 'Succeeded', { message: JSON.stringify(manifest()) })),
      at(40),
    );
    assert.equal(status.artifacts?.[0]?.name, 'flamegraph.svg');
    assert.equal(status.artifacts?.[0]?.node, 'node-1');
    assert.deepEqual(status.summary, manifest().summary);
    assert.deepEqual(status.targets?.[0]?.pids, [4242]);
    assert.equal(status.startTime, t0.toISOString());
    assert.equal(status.completionTime, at(40).toISOString());
  });

  test('a target deleted mid-trace is reported on the target', () => {
    const status = tracingStatus(
      job,
      input(tracerPodIn('p', 'Running'), { lost: new Map([['web-0', 'pod web-0 was deleted during the trace']]) }),
      at(10),
    );
    assert.match(status.targets?.[0]?.message ?? '', /deleted during the trace/);
  });

  test('re-deriving the same state yields an equal status (no write)', () => {
    const first = tracingStatus(job, input(tracerPodIn('p', 'Running')), at(10));
    const again = tracingStatus({ ...job, status: first }, input(tracerPodIn('p', 'Running')), at(20));
    assert.ok(sameStatus(first, again));
    const done = tracingStatus(
      { ...job, status: first },
      input(tracerPodIn('p', 'Succeeded', { message: JSON.stringify(manifest()) })),
      at(30),
    );
    assert.ok(!sameStatus(first, done));
    assert.equal(
      condition(done, 'Accepted') && done.conditions!.find((c) => c.type === 'Accepted')!.lastTransitionTime,
      at(10).toISOString(),
    );
  });

  test('one node failing fails the TraceJob once all nodes finished, keeping the other node’s artifacts', () => {
    const status = tracingStatus(
      job,
      input(undefined, {
        tracers: [
          { node: 'node-1', name: 'a', pod: tracerPodIn('a', 'Succeeded', { message: JSON.stringify(manifest()) }) },
          { node: 'node-2', name: 'b', pod: tracerPodIn('b', 'Running') },
        ],
      }),
      at(10),
    );
    assert.equal(status.phase, 'Running');
    const finished = tracingStatus(
      job,
      input(undefined, {
        tracers: [
          { node: 'node-1', name: 'a', pod: tracerPodIn('a', 'Succeeded', { message: JSON.stringify(manifest()) }) },
          { node: 'node-2', name: 'b', pod: tracerPodIn('b', 'Failed', { message: 'bpftrace: ERROR', exitCode: 1 }) },
        ],
      }),
      at(20),
    );
    assert.equal(finished.phase, 'Failed');
    assert.match(finished.message ?? '', /node node-2 exited with code 1/);
    assert.equal(finished.artifacts?.length, 1);
  });
});

describe('before start', () => {
  test('policy denial: Accepted=False/PolicyDenied, Failed', () => {
    const status = failedBeforeStart(
      traceJobObject(),
      'PolicyDenied',
      'TracePolicy "default" rule allowedTracers: no',
      t0,
    );
    assert.equal(status.phase, 'Failed');
    assert.deepEqual(
      [condition(status, 'Accepted')?.status, condition(status, 'Accepted')?.reason],
      ['False', 'PolicyDenied'],
    );
    assert.match(status.message!, /TracePolicy "default"/);
  });
  test('target not found: TargetsResolved=False, accepted', () => {
    const status = failedBeforeStart(traceJobObject(), 'TargetNotFound', 'pod "web-0" not found', t0);
    assert.equal(condition(status, 'Accepted')?.status, 'True');
    assert.equal(condition(status, 'TargetsResolved')?.reason, 'TargetNotFound');
    assert.equal(condition(status, 'Failed')?.reason, 'TargetNotFound');
  });
  test('waiting for a concurrency slot stays Pending', () => {
    const status = waitingToStart(traceJobObject(), 'PolicyDenied', 'maxConcurrentPerNamespace', t0);
    assert.equal(status.phase, 'Pending');
    assert.equal(condition(status, 'Accepted')?.status, 'False');
    assert.equal(status.completionTime, undefined);
  });
});

describe('mergeSummaries', () => {
  test('weights each node by its samples', () => {
    const merged = mergeSummaries([
      { samples: 300, topFrames: [{ frame: 'a', self: 1, total: 1 }] },
      { samples: 100, topFrames: [{ frame: 'b', self: 1, total: 1 }] },
    ])!;
    assert.equal(merged.samples, 400);
    assert.deepEqual(
      merged.topFrames!.map((f) => [f.frame, f.self]),
      [
        ['a', 0.75],
        ['b', 0.25],
      ],
    );
  });
});

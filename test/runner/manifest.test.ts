import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  fitManifest,
  parseResultManifest,
  ResultManifestSchema,
  TERMINATION_MESSAGE_LIMIT,
  type ResultManifest,
} from '../../src/runner/manifest.ts';
import { parseRunnerPlan, type RunnerPlanInput } from '../../src/runner/plan.ts';

const sha = 'a'.repeat(64);

function bigManifest(targets: number, artifacts: number, frames: number, messageLength: number): ResultManifest {
  return {
    version: 1,
    traceJob: { namespace: 'team-a', name: 'slow-checkout', uid: '0e1d2c3b-4a59-6877-8695-a4b3c2d1e0f9' },
    node: 'worker-1',
    state: 'Succeeded',
    message: 'm'.repeat(messageLength),
    tracer: 'profile',
    startTime: '2026-11-26T23:00:00.000Z',
    completionTime: '2026-11-26T23:00:30.000Z',
    targets: Array.from({ length: targets }, (_, i) => ({
      namespace: 'team-a',
      pod: `checkout-${i}`,
      podUID: '0e1d2c3b-4a59-6877-8695-a4b3c2d1e0f9',
      container: 'app',
      containerID: `containerd://${sha}`,
      state: 'Succeeded' as const,
      pids: Array.from({ length: 40 }, (_, p) => 100000 + p),
      message: 'x'.repeat(messageLength),
    })),
    artifacts: Array.from({ length: artifacts }, (_, i) => ({
      name: `checkout-${i}.flamegraph.svg`,
      format: (['folded', 'flamegraph', 'summary', 'raw', 'pprof', 'speedscope'] as const)[i % 6],
      uri: `s3://bucket/prefix/team-a/slow-checkout/uid/worker-1/checkout-${i}.flamegraph.svg`,
      sizeBytes: 123456,
      sha256: sha,
      url: `https://s3.example.com/bucket/${'q'.repeat(300)}`,
      pod: `checkout-${i}`,
    })),
    summary: {
      samples: 29700,
      topFrames: Array.from({ length: frames }, (_, i) => ({
        frame: `namespace::Class::method_${i}(${'T'.repeat(150)})`,
        self: 0.1,
        total: 0.5,
      })),
    },
  };
}

test('a small manifest is left as it is', () => {
  const m = bigManifest(1, 3, 3, 10);
  delete m.artifacts[0]!.url;
  m.artifacts = m.artifacts.map(({ url: _url, ...a }) => a);
  assert.deepEqual(fitManifest(m), m);
});

test('a large manifest is shortened to fit the termination message, most useful parts first', () => {
  const fitted = fitManifest(bigManifest(10, 60, 10, 2000));
  const bytes = Buffer.byteLength(JSON.stringify(fitted));
  assert.ok(bytes <= TERMINATION_MESSAGE_LIMIT, `${bytes} bytes`);
  ResultManifestSchema.parse(fitted);
  assert.ok(fitted.omitted!.artifacts > 0 || fitted.omitted!.pids > 0);
  // what survives of the artifacts starts with the summary and the flame graph
  assert.ok(fitted.artifacts.length > 0);
  assert.equal(fitted.artifacts[0]!.format, 'summary');
  assert.ok(fitted.artifacts.every((a) => a.url === undefined));
  assert.equal(fitted.state, 'Succeeded');
  assert.equal(parseResultManifest(JSON.stringify(fitted)).node, 'worker-1');
});

test('any manifest, however large, fits in 4096 bytes and stays valid', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 100 }),
      fc.integer({ min: 0, max: 300 }),
      fc.integer({ min: 0, max: 50 }),
      fc.integer({ min: 0, max: 20000 }),
      (targets, artifacts, frames, messageLength) => {
        const fitted = fitManifest(bigManifest(targets, artifacts, frames, messageLength));
        assert.ok(Buffer.byteLength(JSON.stringify(fitted)) <= TERMINATION_MESSAGE_LIMIT);
        ResultManifestSchema.parse(fitted);
      },
    ),
    { numRuns: 60 },
  );
});

const goodPlan: RunnerPlanInput = {
  traceJob: { namespace: 'team-a', name: 'slow-checkout', uid: '0e1d2c3b-4a59-6877-8695-a4b3c2d1e0f9' },
  node: 'worker-1',
  targets: [
    {
      namespace: 'team-a',
      pod: 'checkout-0',
      podUID: '6f1c5e0a-3b7d-4c2e-9a8b-0d1e2f3a4b5c',
      container: 'app',
      containerID: `containerd://${sha}`,
      qosClass: 'Burstable',
    },
  ],
  tracer: { type: 'profile', profile: { frequency: 49 } },
  durationSeconds: 30,
  outputs: ['flamegraph', 'summary'],
  storage: { type: 'local', directory: '/var/lib/tracejob' },
};

test('a valid plan parses with defaults applied', () => {
  const plan = parseRunnerPlan(JSON.stringify(goodPlan));
  assert.equal(plan.tracer.profile?.frequency, 49);
  assert.equal(plan.tracer.profile?.engine, 'auto');
  assert.equal(plan.storage?.type, 'local');
});

test('plan errors name the field and say what is accepted', () => {
  const bad = (patch: (p: Record<string, unknown>) => void) => {
    const p = structuredClone(goodPlan) as unknown as Record<string, unknown>;
    patch(p);
    return JSON.stringify(p);
  };
  assert.throws(() => parseRunnerPlan(undefined), /TRACEJOB_PLAN: not set/);
  assert.throws(() => parseRunnerPlan('{'), /TRACEJOB_PLAN: not JSON/);
  assert.throws(
    () => parseRunnerPlan(bad((p) => ((p.tracer as { profile: { frequency: number } }).profile.frequency = 5000))),
    /TRACEJOB_PLAN\.tracer\.profile\.frequency: .*1\.\.1000/,
  );
  assert.throws(
    () =>
      parseRunnerPlan(bad((p) => ((p.targets as { containerID: string }[])[0]!.containerID = 'containerd://x;rm -rf'))),
    /TRACEJOB_PLAN\.targets\[0\]\.containerID: accepted: <runtime>:\/\/<64 hex digits>/,
  );
  assert.throws(
    () => parseRunnerPlan(bad((p) => (p.durationSeconds = 7200))),
    /TRACEJOB_PLAN\.durationSeconds: accepted: 1\.\.3600/,
  );
  assert.throws(() => parseRunnerPlan(bad((p) => (p.targets = []))), /TRACEJOB_PLAN\.targets: accepted: 1 or more/);
  assert.throws(
    () =>
      parseRunnerPlan(
        bad(
          (p) =>
            (p.tracer = { type: 'bpftrace', bpftrace: { programFrom: { configMapKeyRef: { name: 'a', key: 'b' } } } }),
        ),
      ),
    /TRACEJOB_PLAN\.tracer\.bpftrace\.programFrom: the operator reads the ConfigMap/,
  );
  assert.throws(
    () => parseRunnerPlan(bad((p) => (p.tracer = { type: 'perf', strace: { mode: 'full' } }))),
    /TRACEJOB_PLAN\.tracer\.strace: only accepted when tracer\.type is strace/,
  );
});

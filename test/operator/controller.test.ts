import type { V1Pod } from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { NAME_ANNOTATION } from '../../src/operator/names.ts';
import { useCluster, type TestCluster } from '../support/cluster.ts';
import { manifest } from './builders.ts';
import { Harness, TRACER_NS, createReadyNode, createRunningPod, finishTracerPod, runTracerPod } from './harness.ts';

/**
 * The controller against the development cluster (or a real one), through the real API. A test-side "kubelet" moves
 * tracer pods on agent-less Node objects through their phases, so each scenario controls exactly how its tracer
 * ends; the real tracer is exercised by tracer-pod.test.ts.
 */

const NS = 'team-a';
const NODE = 'fake-1';
const BIN = new URL('../../bin/tracejob.js', import.meta.url).pathname;

let cluster: TestCluster;
let h: Harness;
let resultsDir: string;

before(async () => {
  cluster = await useCluster({ bookmarkIntervalMs: 500 });
  resultsDir = await mkdtemp(join(tmpdir(), 'tracejob-operator-results-'));
  h = await Harness.connect(cluster.kubeconfigPath, resultsDir);
  await h.setUp(NS);
  await createReadyNode(h, NODE);
  await createReadyNode(h, 'fake-2');
});

after(async () => {
  await h?.stopAll();
  await cluster?.stop();
  if (resultsDir) await rm(resultsDir, { recursive: true, force: true });
});

function tracerPodOf(name: string): Promise<V1Pod> {
  return h.until(
    async () => (await h.tracerPods()).find((p) => p.metadata?.annotations?.[NAME_ANNOTATION] === name),
    `the tracer pod of ${name}`,
  );
}

async function tracerPodsOf(name: string): Promise<V1Pod[]> {
  return (await h.tracerPods()).filter((p) => p.metadata?.annotations?.[NAME_ANNOTATION] === name);
}

const succeeded = (pod: string) =>
  JSON.stringify(manifest({ targets: [{ namespace: NS, pod, state: 'Succeeded', pids: [4242] }] }));

async function traceJob(name: string, target: string, extra: Record<string, unknown> = {}) {
  return h.createTraceJob(NS, name, { target: { pod: target }, tracer: { type: 'profile' }, duration: '5s', ...extra });
}

/** What the kubelet of an agent-less node would do with pods being deleted: confirm their end. */
async function reapTerminating(): Promise<void> {
  for (const pod of await h.tracerPods()) {
    if (!pod.metadata?.deletionTimestamp) continue;
    await h.client.request('DELETE', `/api/v1/namespaces/${TRACER_NS}/pods/${pod.metadata.name}`, {
      body: { gracePeriodSeconds: 0 },
    });
  }
}

/** The TraceJob and its tracer pods are gone (after the stand-in kubelet confirmed the pods' end). */
async function gone(name: string): Promise<void> {
  await h.until(async () => {
    await reapTerminating();
    return !(await h.getTraceJob(NS, name)) && (await tracerPodsOf(name)).length === 0;
  }, `${name} gone`);
}

describe('controller', () => {
  test('Pending → Running → Succeeded, then nothing left running; status, events and metrics tell the story', async () => {
    const { operator } = await h.startOperator();
    await createRunningPod(h, NS, 'web-0', NODE);
    await traceJob('happy', 'web-0');
    const pod = await tracerPodOf('happy');
    assert.equal(pod.spec?.nodeName, NODE);
    assert.equal(pod.metadata?.namespace, TRACER_NS);
    const pending = await h.until(async () => {
      const job = await h.getTraceJob(NS, 'happy');
      return job?.status?.phase === 'Pending' ? job : undefined;
    }, 'Pending');
    assert.equal(pending.status?.targets?.[0]?.pod, 'web-0');
    assert.ok(pending.metadata.finalizers?.includes('tracejob.dev/cleanup'));
    await runTracerPod(h, pod);
    await h.until(async () => (await h.getTraceJob(NS, 'happy'))?.status?.phase === 'Running', 'Running');
    await finishTracerPod(h, pod, { exitCode: 0, message: succeeded('web-0') });
    const { job } = await h.phasesUntilFinished(NS, 'happy');
    assert.equal(job.status?.phase, 'Succeeded');
    assert.equal(job.status?.artifacts?.[0]?.name, 'flamegraph.svg');
    assert.deepEqual(job.status?.targets?.[0]?.pids, [4242]);
    assert.equal(job.status?.summary?.samples, 100);
    assert.ok(job.status?.startTime && job.status.completionTime);
    assert.equal(job.status?.policy, `allow-${NS}`);
    const complete = job.status?.conditions?.find((c) => c.type === 'Complete');
    assert.equal(complete?.status, 'True');
    assert.equal(complete?.observedGeneration, 1);
    // Finished: tracer pod removed, finalizer released.
    await h.until(async () => (await tracerPodsOf('happy')).length === 0, 'the tracer pod to go');
    await h.until(async () => !(await h.getTraceJob(NS, 'happy'))?.metadata.finalizers?.length, 'the finalizer to go');
    const events = await h.client.request<{ items: { reason: string; involvedObject: { name: string } }[] }>(
      'GET',
      `/api/v1/namespaces/${NS}/events`,
    );
    const reasons = events.items.filter((e) => e.involvedObject.name === 'happy').map((e) => e.reason);
    assert.ok(reasons.includes('Started') && reasons.includes('Completed'), `events: ${reasons.join(', ')}`);
    const metrics = await (await fetch(`http://127.0.0.1:${operator.port}/metrics`)).text();
    assert.match(metrics, /tracejob_reconcile_total\{result="success"\} [1-9]/);
    assert.match(metrics, /tracejob_api_requests_total\{verb="POST",code="201"\}/);
    assert.equal((await fetch(`http://127.0.0.1:${operator.port}/readyz`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${operator.port}/healthz`)).status, 200);
    // A later status check does not rewrite an unchanged status.
    const before = (await h.getTraceJob(NS, 'happy'))!.metadata.resourceVersion;
    await sleep(1_500);
    assert.equal((await h.getTraceJob(NS, 'happy'))!.metadata.resourceVersion, before);
    await h.stopAll();
  });

  test('missing target: Failed with TargetNotFound, and no tracer pod', async () => {
    await h.startOperator();
    await traceJob('missing', 'no-such-pod');
    const { job } = await h.phasesUntilFinished(NS, 'missing');
    assert.equal(job.status?.phase, 'Failed');
    assert.equal(job.status?.conditions?.find((c) => c.type === 'TargetsResolved')?.reason, 'TargetNotFound');
    assert.match(job.status?.message ?? '', /pod "no-such-pod" not found in namespace "team-a"/);
    assert.equal((await tracerPodsOf('missing')).length, 0);
    await h.stopAll();
  });

  test('target deleted mid-trace: reported on the target; the tracer still reports what it got', async () => {
    await h.startOperator();
    const target = await createRunningPod(h, NS, 'web-del', NODE);
    await traceJob('target-deleted', 'web-del');
    const pod = await tracerPodOf('target-deleted');
    await runTracerPod(h, pod);
    await h.client.request('DELETE', `/api/v1/namespaces/${NS}/pods/${target.metadata!.name}`, {
      body: { gracePeriodSeconds: 0 },
    });
    await h.until(async () => {
      const job = await h.getTraceJob(NS, 'target-deleted');
      return /deleted during the trace/.test(job?.status?.targets?.[0]?.message ?? '');
    }, 'the target to be reported deleted');
    await finishTracerPod(h, pod, {
      exitCode: 1,
      message: JSON.stringify(
        manifest({ state: 'Failed', reason: 'Interrupted', message: 'target exited after 2s', artifacts: [] }),
      ),
    });
    const { job } = await h.phasesUntilFinished(NS, 'target-deleted');
    assert.equal(job.status?.phase, 'Failed');
    assert.equal(job.status?.conditions?.find((c) => c.type === 'Failed')?.reason, 'Interrupted');
    assert.match(job.status?.targets?.[0]?.message ?? '', /deleted during the trace/);
    await h.stopAll();
  });

  test('tracer exits non-zero: Failed/TracerFailed, message carries the tail of its output', async () => {
    await h.startOperator();
    await createRunningPod(h, NS, 'web-crash', NODE);
    await traceJob('crash', 'web-crash');
    const pod = await tracerPodOf('crash');
    await runTracerPod(h, pod);
    const output = Array.from({ length: 30 }, (_, i) => `noise ${i}`).join('\n') + '\nperf_event_open: EACCES';
    await finishTracerPod(h, pod, { exitCode: 2, message: output });
    const { job } = await h.phasesUntilFinished(NS, 'crash');
    assert.equal(job.status?.conditions?.find((c) => c.type === 'Failed')?.reason, 'TracerFailed');
    assert.match(job.status?.message ?? '', /exited with code 2[^]*noise 29\nperf_event_open: EACCES/);
    assert.doesNotMatch(job.status?.message ?? '', /noise 3\n/);
    await h.stopAll();
  });

  test('deadline exceeded: the kubelet stops the tracer, the TraceJob says so', async () => {
    await h.startOperator();
    await createRunningPod(h, NS, 'web-slow', NODE);
    await traceJob('slow', 'web-slow');
    const pod = await tracerPodOf('slow');
    assert.equal(pod.spec?.activeDeadlineSeconds, 5 + h.config().deadlineMarginSeconds);
    await runTracerPod(h, pod);
    await finishTracerPod(h, pod, { exitCode: 137, message: 'killed', reason: 'DeadlineExceeded' });
    const { job } = await h.phasesUntilFinished(NS, 'slow');
    assert.equal(job.status?.conditions?.find((c) => c.type === 'Failed')?.reason, 'DeadlineExceeded');
    await h.stopAll();
  });

  test('deleting a running TraceJob stops its tracer and leaves nothing behind', async () => {
    await h.startOperator();
    await createRunningPod(h, NS, 'web-cancel', NODE);
    await traceJob('cancel', 'web-cancel');
    await runTracerPod(h, await tracerPodOf('cancel'));
    await h.until(async () => (await h.getTraceJob(NS, 'cancel'))?.status?.phase === 'Running', 'Running');
    await h.deleteTraceJob(NS, 'cancel');
    await h.until(
      async () => (await tracerPodsOf('cancel'))[0]?.metadata?.deletionTimestamp,
      'the tracer pod to be stopped',
    );
    await gone('cancel');
    await h.stopAll();
  });

  test('policy: no TracePolicy for the namespace, or a refused tracer → Accepted=False/PolicyDenied, no pod', async () => {
    await h.startOperator();
    await h.apply('/api/v1/namespaces', { metadata: { name: 'no-policy' } });
    await h.client.request('POST', `/apis/tracejob.dev/v1alpha1/namespaces/no-policy/tracejobs`, {
      body: {
        apiVersion: 'tracejob.dev/v1alpha1',
        kind: 'TraceJob',
        metadata: { name: 'denied' },
        spec: { target: { pod: 'x' }, tracer: { type: 'profile' }, duration: '5s' },
      },
    });
    const { job } = await h.phasesUntilFinished('no-policy', 'denied');
    const accepted = job.status?.conditions?.find((c) => c.type === 'Accepted');
    assert.deepEqual([accepted?.status, accepted?.reason], ['False', 'PolicyDenied']);
    assert.match(job.status?.message ?? '', /no TracePolicy selects namespace "no-policy"/);

    await h.apply('/apis/tracejob.dev/v1alpha1/tracepolicies', {
      apiVersion: 'tracejob.dev/v1alpha1',
      kind: 'TracePolicy',
      metadata: { name: 'strict' },
      spec: {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'strict-ns' } },
        allowedTracers: ['profile'],
      },
    } as never);
    await h.apply('/api/v1/namespaces', { metadata: { name: 'strict-ns' } });
    await h.client.request('POST', `/apis/tracejob.dev/v1alpha1/namespaces/strict-ns/tracejobs`, {
      body: {
        apiVersion: 'tracejob.dev/v1alpha1',
        kind: 'TraceJob',
        metadata: { name: 'strace-me' },
        spec: { target: { pod: 'x' }, tracer: { type: 'strace' }, duration: '5s' },
      },
    });
    const strict = await h.phasesUntilFinished('strict-ns', 'strace-me');
    assert.match(strict.job.status?.message ?? '', /TracePolicy "strict" rule allowedTracers: tracer type strace/);
    assert.equal((await tracerPodsOf('denied')).length + (await tracerPodsOf('strace-me')).length, 0);
    await h.stopAll();
  });

  test('policy concurrency: a TraceJob over maxConcurrentPerNamespace waits (Pending, PolicyDenied), then runs', async () => {
    await h.startOperator();
    await h.apply('/apis/tracejob.dev/v1alpha1/tracepolicies', {
      apiVersion: 'tracejob.dev/v1alpha1',
      kind: 'TracePolicy',
      metadata: { name: 'one-at-a-time' },
      spec: {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'serial' } },
        allowedTracers: ['profile'],
        allowKernelStacks: true,
        maxConcurrentPerNamespace: 1,
      },
    } as never);
    await h.apply('/api/v1/namespaces', { metadata: { name: 'serial' } });
    await createRunningPod(h, 'serial', 'app', NODE);
    const create = (name: string) =>
      h.client.request('POST', `/apis/tracejob.dev/v1alpha1/namespaces/serial/tracejobs`, {
        body: {
          apiVersion: 'tracejob.dev/v1alpha1',
          kind: 'TraceJob',
          metadata: { name },
          spec: { target: { pod: 'app' }, tracer: { type: 'profile' }, duration: '5s' },
        },
      });
    await create('first');
    const first = await tracerPodOf('first');
    await create('second');
    const waiting = await h.until(async () => {
      const job = await h.getTraceJob('serial', 'second');
      return job?.status?.phase === 'Pending' ? job : undefined;
    }, 'the second to wait');
    const accepted = waiting.status?.conditions?.find((c) => c.type === 'Accepted');
    assert.deepEqual([accepted?.status, accepted?.reason], ['False', 'PolicyDenied']);
    assert.match(waiting.status?.message ?? '', /rule maxConcurrentPerNamespace/);
    assert.equal((await tracerPodsOf('second')).length, 0);
    await runTracerPod(h, first);
    await finishTracerPod(h, first, { exitCode: 0, message: succeeded('app') });
    await tracerPodOf('second');
    await h.stopAll();
  });

  test('ttlSecondsAfterFinished removes the finished TraceJob', async () => {
    await h.startOperator();
    await traceJob('short-lived', 'no-such-pod', { ttlSecondsAfterFinished: 1 });
    await h.phasesUntilFinished(NS, 'short-lived');
    await h.until(async () => !(await h.getTraceJob(NS, 'short-lived')), 'the TraceJob to expire', 15_000);
    await h.stopAll();
  });

  test('operator SIGKILLed mid-trace and restarted: no duplicate pod, the job completes', async () => {
    const start = () => {
      const child = spawn(
        process.execPath,
        [
          BIN,
          'operator',
          '--kubeconfig',
          cluster.kubeconfigPath,
          '--results-dir',
          resultsDir,
          '--namespace',
          TRACER_NS,
          '--metrics-addr',
          '127.0.0.1:0',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let log = '';
      child.stderr.on('data', (d: Buffer) => (log += d.toString()));
      return { child, log: () => log };
    };
    await createRunningPod(h, NS, 'web-crashy', NODE);
    const first = start();
    try {
      await traceJob('survivor', 'web-crashy');
      const pod = await tracerPodOf('survivor');
      await runTracerPod(h, pod);
      await h.until(async () => (await h.getTraceJob(NS, 'survivor'))?.status?.phase === 'Running', 'Running');
      first.child.kill('SIGKILL');
      await new Promise((r) => first.child.once('exit', r));
      const second = start();
      try {
        await h.until(async () => /caches synced/.test(second.log()), 'the second operator', 20_000);
        await sleep(500);
        assert.equal((await tracerPodsOf('survivor')).length, 1, 'no second tracer pod');
        await finishTracerPod(h, pod, { exitCode: 0, message: succeeded('web-crashy') });
        const { job } = await h.phasesUntilFinished(NS, 'survivor');
        assert.equal(job.status?.phase, 'Succeeded', job.status?.message);
        for (const line of second
          .log()
          .trim()
          .split('\n')
          .filter((l) => l.startsWith('{'))) {
          const entry = JSON.parse(line) as { traceJob?: string; message: string };
          if (/created tracer pod|phase changed/.test(entry.message)) assert.equal(entry.traceJob, `${NS}/survivor`);
        }
      } finally {
        second.child.kill('SIGTERM');
        await new Promise((r) => second.child.once('exit', r));
      }
    } finally {
      first.child.kill('SIGKILL');
    }
  });

  test('two replicas with leader election: only the leader acts; the standby takes over', async () => {
    const election = { leaderElect: true, leaseDurationSeconds: 2, renewDeadlineMs: 1_500, retryPeriodMs: 300 };
    const a = await h.startOperator({ ...election, identity: 'replica-a' });
    await h.until(async () => a.operator.isLeader(), 'replica-a to lead');
    const b = await h.startOperator({ ...election, identity: 'replica-b' });
    await createRunningPod(h, NS, 'web-ha', NODE);
    await traceJob('ha', 'web-ha');
    await tracerPodOf('ha');
    await sleep(1_000);
    assert.equal((await tracerPodsOf('ha')).length, 1);
    assert.ok(a.operator.isLeader() && !b.operator.isLeader());
    assert.equal(
      await b.operator.metrics.reconciles.get().then((m) => m.values.reduce((n, v) => n + v.value, 0)),
      0,
      'the standby reconciled nothing',
    );
    a.abort.abort();
    await a.operator.done;
    await h.until(async () => b.operator.isLeader(), 'replica-b to take over', 10_000);
    await createRunningPod(h, NS, 'web-ha2', NODE);
    await traceJob('ha2', 'web-ha2');
    await tracerPodOf('ha2');
    await h.stopAll();
  });

  test('429 on pod create: waits for Retry-After and creates the pod', async (t) => {
    if (!cluster.faults) return t.skip('fault injection needs the development cluster');
    await h.startOperator();
    await createRunningPod(h, NS, 'web-429', NODE);
    cluster.faults.failRequests({
      verb: 'create',
      resource: 'pods',
      namespace: TRACER_NS,
      status: 429,
      retryAfterSeconds: 1,
      count: 2,
    });
    const started = Date.now();
    await traceJob('throttled', 'web-429');
    await tracerPodOf('throttled');
    assert.equal(cluster.faults.injected.get('create pods'), 2);
    assert.ok(Date.now() - started >= 1_800, 'honoured Retry-After twice');
    await h.stopAll();
  });

  const watchFaults: { name: string; inject: (f: NonNullable<TestCluster['faults']>) => void; cause?: string }[] = [
    { name: 'dropped watch connections', inject: (f) => f.dropWatches() },
    {
      name: 'watches answered with 500',
      inject: (f) => {
        f.failRequests({ verb: 'watch', status: 500, count: 6 });
        f.closeWatches();
      },
    },
    { name: 'silent watches', inject: (f) => f.silenceWatches() },
    { name: 'expired resourceVersions (in-stream 410)', inject: (f) => f.expireResourceVersions('stream') },
    {
      name: 'expired resourceVersions (HTTP 410 on the re-watch)',
      inject: (f) => {
        f.expireResourceVersions('http');
        f.closeWatches();
      },
    },
  ];
  for (const [i, fault] of watchFaults.entries()) {
    test(`informers recover from ${fault.name}`, async (t) => {
      if (!cluster.faults) return t.skip('fault injection needs the development cluster');
      const { operator } = await h.startOperator({
        tuning: { informer: { silenceMs: 2_000, backoffBaseMs: 50, backoffMaxMs: 500, watchTimeoutSeconds: 60 } },
      });
      await h.until(async () => operator.controller.hasSynced(), 'sync');
      await sleep(300);
      fault.inject(cluster.faults);
      await sleep(200);
      await createRunningPod(h, NS, `web-w${i}`, NODE);
      await traceJob(`watch-${i}`, `web-w${i}`);
      const pod = await tracerPodOf(`watch-${i}`);
      await runTracerPod(h, pod);
      await finishTracerPod(h, pod, { exitCode: 0, message: succeeded(`web-w${i}`) });
      const { job } = await h.phasesUntilFinished(NS, `watch-${i}`, 30_000);
      assert.equal(job.status?.phase, 'Succeeded');
      const restarts = operator.controller.traceJobs.restarts;
      assert.ok(restarts.error + restarts.relist + restarts.silence > 0, JSON.stringify(restarts));
      cluster.faults.reset();
      await h.stopAll();
    });
  }
});

import type { V1Pod } from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createLogger, silentLogger } from '../../src/log.ts';
import { needs } from '../support/requirements.ts';
import { useCluster, type TestCluster } from '../support/cluster.ts';
import { Harness } from './harness.ts';

/**
 * The whole path with a real tracer: the operator creates a privileged tracer pod, the local kubelet runs it as a runc
 * container with this checkout's `tracejob runner`, which profiles the target container and writes its manifest to
 * the termination message; the operator turns that into the TraceJob's status.
 */

const requirements = needs('root', 'runc', 'perf');
const NS = 'team-real';

let cluster: TestCluster | undefined;
let h: Harness;
let resultsDir: string;

before(async () => {
  if (requirements.skip) return;
  cluster = await useCluster({ kubelet: true });
  resultsDir = await mkdtemp(join(tmpdir(), 'tracejob-real-results-'));
  h = await Harness.connect(cluster.kubeconfigPath, resultsDir);
  await h.setUp(NS);
});

after(async () => {
  await h?.stopAll();
  await cluster?.stop();
  if (resultsDir) await rm(resultsDir, { recursive: true, force: true });
});

test('a TraceJob on a running pod: Pending → Running → Succeeded with a real tracer pod', requirements, async () => {
  await h.startOperator({
    logger: process.env.TRACEJOB_TEST_DEBUG ? createLogger({ level: 'debug' }) : silentLogger(),
  });
  await h.client.request('POST', `/api/v1/namespaces/${NS}/pods`, {
    body: {
      metadata: { name: 'busy' },
      spec: {
        nodeName: cluster!.nodeName,
        terminationGracePeriodSeconds: 1,
        containers: [{ name: 'app', image: 'busybox', command: ['sh', '-c', 'while :; do :; done'] }],
      },
    },
  });
  await h.until(
    async () => {
      const pod = await h.client.request<V1Pod>('GET', `/api/v1/namespaces/${NS}/pods/busy`);
      return pod.status?.containerStatuses?.[0]?.state?.running;
    },
    'the target to run',
    60_000,
  );

  await h.createTraceJob(NS, 'real', {
    target: { pod: 'busy' },
    tracer: { type: 'profile', profile: { engine: 'perf', frequency: 49, kernelStacks: false } },
    duration: '2s',
    outputs: ['folded', 'summary'],
  });
  const { phases, job } = await h.phasesUntilFinished(NS, 'real', 120_000);
  assert.equal(job.status?.phase, 'Succeeded', job.status?.message);
  assert.ok(phases.includes('Running'), `phases: ${phases.join(' → ')}`);
  assert.deepEqual(
    phases.filter((p) => p !== 'Pending'),
    ['Running', 'Succeeded'],
  );
  const target = job.status?.targets?.[0];
  assert.equal(target?.pod, 'busy');
  assert.ok(target?.pids?.length, 'the runner found the container’s processes');
  assert.ok((job.status?.summary?.samples ?? 0) > 0, 'samples were taken');
  const folded = job.status?.artifacts?.find((a) => a.format === 'folded');
  assert.ok(folded, JSON.stringify(job.status?.artifacts));
  assert.ok(existsSync(new URL(folded.uri).pathname), `artifact stored at ${folded.uri}`);
  await h.until(async () => (await h.tracerPods()).length === 0, 'the tracer pod to be removed', 60_000);
});

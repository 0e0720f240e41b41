import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hotFunctions, sleep, useEnvironment, type Environment } from '../support/e2e.ts';
import { needs } from '../support/requirements.ts';

// What goes wrong around a trace: a target that does not exist, a target or the TraceJob deleted mid-trace, and the
// operator killed mid-trace. Each checks what is left behind, not only the phase.
const requirements = needs('root', 'runc', 'cc', 'perf');
let env: Environment;

before(async () => {
  if (requirements.skip) return;
  env = await useEnvironment('lifecycle');
  await Promise.all([env.startWorkload('doomed', 'c-runner'), env.startWorkload('steady', 'c-demo')]);
});

after(async () => {
  await env?.stop();
});

async function apply(file: string): Promise<string> {
  const applied = await env.applyFixture(file);
  assert.equal(applied.code, 0, applied.stderr);
  const job = await env.waitForTraceJob(file.replace(/\.yaml$/, ''), { phases: ['Pending', 'Running', 'Failed'] });
  return job.metadata.uid;
}

/** Waits until the TraceJob's tracer pod runs, and returns it. */
async function runningTracer(uid: string): Promise<{ name: string; uid: string }> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const pods = await env.tracerPods(uid);
    const running = pods.find((p) => p.phase === 'Running');
    if (running) return running;
    if (Date.now() > deadline) throw new Error(`no tracer pod ran: ${JSON.stringify(pods)}`);
    await sleep(250);
  }
}

/** Polls until `check` holds, or fails with what it saw last. */
async function eventually<T>(what: string, probe: () => Promise<T>, check: (v: T) => boolean, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last = await probe();
  while (!check(last)) {
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(last)}`);
    await sleep(250);
    last = await probe();
  }
  return last;
}

test(
  'a target that does not exist fails the TraceJob with TargetNotFound and starts no tracer',
  requirements,
  async () => {
    const uid = await apply('not-found.yaml');
    const job = await env.waitForTraceJob('not-found');
    assert.equal(job.status?.phase, 'Failed');
    const failed = job.status?.conditions?.find((c) => c.type === 'Failed');
    assert.equal(failed?.status, 'True', JSON.stringify(job.status?.conditions));
    assert.equal(failed?.reason, 'TargetNotFound');
    assert.match(job.status?.message ?? '', /no-such-pod/);
    assert.deepEqual(await env.tracerPods(uid), []);
  },
);

test(
  'a target pod deleted mid-trace ends the TraceJob early, saying so, with nothing left running',
  requirements,
  async () => {
    const started = Date.now();
    const uid = await apply('target-deleted.yaml');
    const tracer = await runningTracer(uid);
    await sleep(3000);
    await env.kubectl(['delete', 'pod', 'doomed', '-n', env.namespace, '--wait=false']);
    const job = await env.waitForTraceJob('target-deleted', { timeoutMs: 60_000 });
    // Its duration is 30 s: it must not wait for it.
    assert.ok(Date.now() - started < 28_000, `took ${Date.now() - started} ms`);
    const target = job.status?.targets?.find((t) => t.pod === 'doomed');
    assert.match(target?.message ?? '', /pod doomed was deleted during the trace/, JSON.stringify(job.status));
    // Deleted after the tracer found it: what was recorded is kept. Before (a slow start): nothing to trace.
    if (job.status?.phase === 'Succeeded') {
      assert.equal(job.status.summary?.topFrames[0]?.frame, hotFunctions['c-runner'], JSON.stringify(job.status));
    } else {
      assert.equal(job.status?.conditions?.find((c) => c.type === 'Failed')?.reason, 'TargetNotFound');
    }
    await eventually(
      'tracer processes',
      () => env.processesOfPod(tracer.uid),
      (pids) => !pids || pids.length === 0,
    );
  },
);

test('a TraceJob deleted mid-trace leaves no tracer pod, container or process behind', requirements, async () => {
  const uid = await apply('tracejob-deleted.yaml');
  const tracer = await runningTracer(uid);
  // The tracer is really at work: its container's processes exist on the node.
  const pids = await env.processesOfPod(tracer.uid);
  if (pids) assert.ok(pids.length > 0, 'the running tracer pod has no processes');
  await sleep(1000);
  const deleted = await env.cluster.kubectl([
    'delete',
    'tracejob',
    'tracejob-deleted',
    '-n',
    env.namespace,
    '--timeout=60s',
  ]);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.equal(await env.getTraceJob('tracejob-deleted'), undefined);
  await eventually(
    'tracer pods',
    () => env.tracerPods(uid),
    (pods) => pods.length === 0,
  );
  await eventually(
    'tracer processes',
    () => env.processesOfPod(tracer.uid),
    (left) => !left || left.length === 0,
  );
});

test(
  'an operator killed mid-trace comes back, creates no second tracer pod and completes the TraceJob',
  requirements,
  async () => {
    const uid = await apply('operator-restart.yaml');
    const tracer = await runningTracer(uid);
    await env.restartOperator();
    const seen = new Set<string>([tracer.name]);
    let done = false;
    const watching = (async () => {
      while (!done) {
        for (const p of await env.tracerPods(uid)) seen.add(p.name);
        await sleep(200);
      }
    })();
    const job = await env.waitForTraceJob('operator-restart', { timeoutMs: 90_000 }).finally(() => (done = true));
    await watching;
    assert.equal(
      job.status?.phase,
      'Succeeded',
      `${JSON.stringify(job.status)}\n${(await env.operatorLog()).slice(-3000)}`,
    );
    assert.deepEqual([...seen], [tracer.name]);
    assert.equal(job.status?.summary?.topFrames[0]?.frame, hotFunctions['c-demo'], JSON.stringify(job.status?.summary));
    assert.ok(job.status?.artifacts?.some((a) => a.format === 'flamegraph'));
  },
);

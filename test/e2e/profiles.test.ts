import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import { hotFunctions, sleep, useEnvironment, type Environment, type TraceJobObject } from '../support/e2e.ts';
import { needs } from '../support/requirements.ts';

// CPU profiles through the whole path: kubectl apply -f, the operator, a tracer pod, the runner, s3, the status. The
// three TraceJobs run at once against one cluster and operator.
const requirements = needs('root', 'runc', 'cc', 'perf', 'bpftrace');
let env: Environment;
const finished = new Map<string, Promise<TraceJobObject>>();

before(async () => {
  if (requirements.skip) return;
  env = await useEnvironment('profiles');
  await Promise.all([
    env.startWorkload('c-demo', 'c-demo', { 'e2e-pair': 'yes' }),
    env.startWorkload('c-runner', 'c-runner', { 'e2e-pair': 'yes' }),
    env.startWorkload('node-js', 'node'),
  ]);
  for (const name of ['perf-c', 'perf-node', 'profile-pair', 'profile-bpftrace']) {
    const applied = await env.applyFixture(`${name}.yaml`);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, new RegExp(`tracejob.tracejob.dev/${name} created`));
    finished.set(name, env.waitForTraceJob(name));
  }
  // Settled here so a failing scenario does not leave an unhandled rejection behind.
  for (const p of finished.values()) p.catch(() => undefined);
});

after(async () => {
  await env?.stop();
});

async function succeeded(name: string): Promise<TraceJobObject> {
  const job = await finished.get(name)!;
  assert.equal(
    job.status?.phase,
    'Succeeded',
    `${JSON.stringify(job.status)}\n${(await env.operatorLog()).slice(-3000)}`,
  );
  return job;
}

async function artifactText(job: TraceJobObject, name: string): Promise<string> {
  const artifact = job.status?.artifacts?.find((a) => a.name === name);
  assert.ok(artifact, `no ${name} among ${job.status?.artifacts?.map((a) => a.name).join(', ')}`);
  return (await env.download(artifact)).toString('utf8');
}

test(
  'perf CPU profile of a C workload: flame graph, speedscope, pprof and the summary name its hot function',
  requirements,
  async () => {
    const job = await succeeded('perf-c');
    const hot = hotFunctions['c-demo'];
    assert.equal(job.status?.summary?.topFrames[0]?.frame, hot, JSON.stringify(job.status?.summary));
    assert.ok((job.status?.summary?.samples ?? 0) > 10, `samples: ${job.status?.summary?.samples}`);
    const [target] = job.status?.targets ?? [];
    assert.equal(target?.pod, 'c-demo');
    assert.ok((target?.pids?.length ?? 0) >= 1, JSON.stringify(target));

    assert.match(await artifactText(job, 'flamegraph.svg'), new RegExp(`<title>${hot} \\(`));
    assert.match(await artifactText(job, 'stacks.folded'), new RegExp(`;${hot} \\d+\\n`));
    const speedscope = JSON.parse(await artifactText(job, 'profile.speedscope.json')) as {
      shared: { frames: { name: string }[] };
    };
    assert.ok(
      speedscope.shared.frames.some((f) => f.name === hot),
      'speedscope frames lack the hot function',
    );
    const pprofArtifact = job.status?.artifacts?.find((a) => a.name === 'profile.pb.gz');
    assert.ok(pprofArtifact);
    const profile = Profile.decode(gunzipSync(await env.download(pprofArtifact)));
    const names = profile.function.map((f) => profile.stringTable.strings[Number(f.name)]);
    assert.ok(names.includes(hot), `pprof functions: ${names.slice(0, 20).join(', ')}`);
    // The hot function is the leaf of most samples: its location is first in the heaviest sample.
    const heaviest = [...profile.sample].sort((a, b) => Number(b.value[0]) - Number(a.value[0]))[0]!;
    const leaf = profile.location.find((l) => l.id === heaviest.locationId[0]);
    const leafFunction = profile.function.find((f) => f.id === leaf?.line[0]?.functionId);
    assert.equal(profile.stringTable.strings[Number(leafFunction?.name)], hot);
  },
);

test('a Node.js workload run with --perf-basic-prof shows its JavaScript functions by name', requirements, async () => {
  const job = await succeeded('perf-node');
  const svg = await artifactText(job, 'flamegraph.svg');
  assert.match(svg, new RegExp(hotFunctions.node), 'the flame graph lacks the JavaScript function');
  const folded = await artifactText(job, 'stacks.folded');
  assert.match(folded, /tracejobJsHotLoop[^;\n]*hot\.js/, 'JIT frames should name the script');
  assert.ok(
    job.status?.summary?.topFrames.some((f) => f.frame.includes(hotFunctions.node)),
    JSON.stringify(job.status?.summary),
  );
});

test('a selector matching two pods: one result per target and a merged flame graph', requirements, async () => {
  const job = await succeeded('profile-pair');
  const targets = job.status?.targets ?? [];
  assert.deepEqual(targets.map((t) => t.pod).sort(), ['c-demo', 'c-runner']);
  for (const t of targets) {
    assert.equal(t.state, 'Succeeded', JSON.stringify(t));
    assert.ok((t.pids?.length ?? 0) >= 1, JSON.stringify(t));
  }
  // One profile per pod, each with its own workload's hot function and not the other's.
  for (const [pod, own, other] of [
    ['c-demo', hotFunctions['c-demo'], hotFunctions['c-runner']],
    ['c-runner', hotFunctions['c-runner'], hotFunctions['c-demo']],
  ] as const) {
    const folded = await artifactText(job, `${pod}.stacks.folded`);
    assert.match(folded, new RegExp(`;${own} \\d+`), `${pod}: ${folded.slice(0, 500)}\n${JSON.stringify(job.status)}`);
    assert.doesNotMatch(folded, new RegExp(`;${other}[; ]`));
  }
  const merged = await artifactText(job, 'flamegraph.svg');
  for (const hot of [hotFunctions['c-demo'], hotFunctions['c-runner']]) {
    assert.match(merged, new RegExp(`<title>${hot} \\(`), `the merged flame graph lacks ${hot}`);
  }
  const top = job.status?.summary?.topFrames.map((f) => f.frame) ?? [];
  assert.ok(
    top.includes(hotFunctions['c-demo']) && top.includes(hotFunctions['c-runner']),
    `status.summary.topFrames: ${top.join(', ')}`,
  );
  assert.equal(new Set(top).size, top.length);
});

test('the bpftrace profile engine: the hot function leads, one frame per function', requirements, async () => {
  const job = await succeeded('profile-bpftrace');
  const hot = hotFunctions['c-runner'];
  assert.equal(job.status?.summary?.topFrames[0]?.frame, hot, JSON.stringify(job.status));
  const folded = await artifactText(job, 'stacks.folded');
  assert.match(folded, new RegExp(`;main;(tracejob_outer;)?${hot} \\d+`), folded.slice(0, 1000));
  // bpftrace prints frames as function+offset: they are folded without it.
  assert.doesNotMatch(folded, /tracejob_\w+\+\d+/);
  assert.match(await artifactText(job, 'flamegraph.svg'), new RegExp(`<title>${hot} \\(`));
});

test(
  'artifacts carry presigned links that open in a browser, renewed on request by an annotation',
  requirements,
  async () => {
    const job = await succeeded('perf-c');
    const flamegraph = job.status?.artifacts?.find((a) => a.name === 'flamegraph.svg');
    assert.ok(flamegraph?.url, `no link: ${JSON.stringify(flamegraph)}`);
    const response = await fetch(flamegraph.url);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^image\/svg\+xml/);
    assert.match(await response.text(), /<svg[^>]*>/);

    // Signatures carry the signing second: wait past it so a renewed link differs.
    await sleep(1100);
    await env.kubectl(['annotate', 'tracejob', 'perf-c', '-n', env.namespace, 'tracejob.dev/refresh-urls=now']);
    const deadline = Date.now() + 30_000;
    let renewed: TraceJobObject | undefined;
    while (Date.now() < deadline) {
      renewed = await env.getTraceJob('perf-c');
      const annotated = JSON.parse(
        await env
          .kubectl(['get', 'tracejob', 'perf-c', '-n', env.namespace, '-o', 'jsonpath={.metadata.annotations}'])
          .then((s) => s || '{}'),
      ) as Record<string, string>;
      if (!('tracejob.dev/refresh-urls' in annotated)) break;
      await sleep(300);
    }
    const again = renewed?.status?.artifacts?.find((a) => a.name === 'flamegraph.svg');
    assert.ok(
      again?.url && again.url !== flamegraph.url,
      `link not renewed: ${again?.url}\n${(await env.operatorLog()).slice(-3000)}`,
    );
    assert.ok(Date.parse(again.urlExpiresAt ?? '') > Date.parse(flamegraph.urlExpiresAt ?? ''));
    assert.equal((await fetch(again.url)).status, 200);
  },
);

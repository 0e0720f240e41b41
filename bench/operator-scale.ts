/**
 * The operator at scale, against the development cluster's fake nodes (run in a child process, so the figures are
 * the operator's own):
 *   1. N TraceJobs applied at once across N nodes: time until every tracer pod exists and until every TraceJob
 *      finished, API writes per TraceJob lifecycle, reconcile latency percentiles.
 *   2. RSS of an operator process with M TraceJobs in its cache.
 *
 *   node bench/operator-scale.ts [--jobs 1000] [--cached 10000] [--workers 8]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { load as loadYaml } from 'js-yaml';
import { localConfig } from '../src/operator/config.ts';
import { startOperator } from '../src/operator/index.ts';
import { KubeClient } from '../src/operator/kube.ts';
import { clusterAccess } from '../src/operator/kubeconfig.ts';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '1000' },
    cached: { type: 'string', default: '10000' },
    workers: { type: 'string', default: '8' },
  },
});
const JOBS = Number(values.jobs);
const CACHED = Number(values.cached);
const WORKERS = Number(values.workers);
const ROOT = new URL('../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/tracejob.js');
const NS = 'bench';
const TRACER_NS = 'tracejob-system';
const TJ = '/apis/tracejob.dev/v1alpha1';

const dir = await mkdtemp(join(tmpdir(), 'tracejob-bench-'));
const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

function spawnChild(args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  child.stderr!.resume();
  children.push(child);
  return child;
}

async function until<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  ms: number,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

// ---- the cluster -------------------------------------------------------------------------------------------------
const kubeconfig = join(dir, 'kubeconfig');
const cluster = spawnChild([
  'devcluster',
  '--kubeconfig',
  kubeconfig,
  '--state-dir',
  join(dir, 'state'),
  '--fake-nodes',
  String(JOBS),
  '--no-kubelet',
]);
await until(() => existsSync(kubeconfig), 'the development cluster', 60_000);
const access = await clusterAccess(kubeconfig);
const client = new KubeClient({ access });
const post = (path: string, body: unknown) => client.request('POST', path, { body });

for (const file of ['crds/tracejob.dev_tracejobs.yaml', 'crds/tracejob.dev_tracepolicies.yaml']) {
  await post('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', loadYaml(readFileSync(ROOT + file, 'utf8')));
}
await until(
  () =>
    client.request('GET', `${TJ}/tracejobs`).then(
      () => true,
      () => false,
    ),
  'the CRDs',
  30_000,
);
for (const ns of [NS, TRACER_NS]) await post('/api/v1/namespaces', { metadata: { name: ns } });
await post(`/api/v1/namespaces/${TRACER_NS}/serviceaccounts`, { metadata: { name: 'tracejob-tracer' } });
await post(`${TJ}/tracepolicies`, {
  apiVersion: 'tracejob.dev/v1alpha1',
  kind: 'TracePolicy',
  metadata: { name: 'bench' },
  spec: {
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': NS } },
    allowedTracers: ['profile'],
    allowKernelStacks: true,
    maxConcurrentPerNamespace: 1000,
    maxConcurrentPerNode: 10,
  },
});
const nodes = await until(
  async () => {
    const list = await client.request<{ items: { metadata: { name: string } }[] }>('GET', '/api/v1/nodes', {
      query: { labelSelector: 'tracejob.dev/fake-node' },
    });
    return list.items.length >= JOBS ? list.items.map((n) => n.metadata.name).sort() : undefined;
  },
  'the fake nodes',
  120_000,
);

const targets = nodes.slice(0, JOBS).map((node, i) => ({ node, name: `app-${i}` }));
let started = Date.now();
await pool(targets, 32, ({ node, name }) =>
  post(`/api/v1/namespaces/${NS}/pods`, {
    metadata: { name, labels: { app: 'bench' } },
    spec: { nodeName: node, containers: [{ name: 'app', image: 'registry.example/app:1' }] },
  }),
);
await until(
  async () => {
    const list = await client.request<{ items: { status?: { phase?: string } }[] }>(
      'GET',
      `/api/v1/namespaces/${NS}/pods`,
    );
    return list.items.filter((p) => p.status?.phase === 'Running').length >= JOBS;
  },
  'the target pods to run',
  300_000,
);
console.log(`setup: ${JOBS} fake nodes, ${JOBS} running target pods (${((Date.now() - started) / 1000).toFixed(1)} s)`);

// ---- 1. N TraceJobs at once --------------------------------------------------------------------------------------
const manifest = JSON.stringify({
  version: 1,
  state: 'Succeeded',
  tracer: 'profile',
  startTime: new Date().toISOString(),
  completionTime: new Date().toISOString(),
  targets: [],
  artifacts: [
    {
      name: 'summary.json',
      format: 'summary',
      uri: 'file:///results/summary.json',
      sizeBytes: 10,
      sha256: 'a'.repeat(64),
    },
  ],
  summary: { samples: 1000, topFrames: [{ frame: 'main', self: 0.5, total: 1 }] },
});
const writes = new Map<string, number>();
const reads = { count: 0 };
let podCreates = 0;
let allPodsAt = 0;
const latencies: number[] = [];
const abort = new AbortController();
const operator = await startOperator({
  access,
  config: localConfig(join(dir, 'results'), {
    tracerNamespace: TRACER_NS,
    tracerImage: 'localhost/tracejob:bench',
    // The fake nodes end each pod with this termination message after a second, like a runner would.
    tracerPodAnnotations: {
      'fake.tracejob.dev/termination-message': manifest,
      'fake.tracejob.dev/run-seconds': '1',
    },
  }),
  workers: WORKERS,
  metricsAddr: '127.0.0.1:0',
  signal: abort.signal,
  tuning: { onReconciled: (_key, ms) => latencies.push(ms) },
  onRequest: (method, path, code) => {
    if (method === 'GET' || method === 'WATCH') {
      reads.count++;
      return;
    }
    const kind =
      method === 'POST' && path.endsWith('/pods')
        ? 'create tracer pod'
        : method === 'DELETE' && path.includes('/pods/')
          ? 'delete tracer pod'
          : method === 'POST' && path.endsWith('/events')
            ? 'create event'
            : method === 'PATCH' && path.endsWith('/status')
              ? 'patch TraceJob status'
              : method === 'PATCH' && path.includes('/tracejobs/')
                ? 'patch TraceJob finalizers'
                : `${method} ${path}`;
    writes.set(kind, (writes.get(kind) ?? 0) + 1);
    if (kind === 'create tracer pod' && code === 201 && ++podCreates === JOBS) allPodsAt = Date.now();
  },
});
await until(() => operator.controller.hasSynced(), 'the operator to sync', 30_000);

started = Date.now();
await pool(targets, 64, ({ name }) =>
  post(`${TJ}/namespaces/${NS}/tracejobs`, {
    apiVersion: 'tracejob.dev/v1alpha1',
    kind: 'TraceJob',
    metadata: { name: `trace-${name}` },
    spec: { target: { pod: name }, tracer: { type: 'profile' }, duration: '1s', outputs: ['summary'] },
  }),
);
const appliedAt = Date.now();
const finished = () =>
  operator.controller.traceJobs
    .list()
    .filter((j) => j.metadata.namespace === NS && (j.status?.phase === 'Succeeded' || j.status?.phase === 'Failed'));
await until(
  () => finished().length >= JOBS && operator.controller.tracerPods.size === 0,
  'every TraceJob to finish',
  600_000,
);
const doneAt = Date.now();
if (process.env.BENCH_DEBUG) console.log(JSON.stringify(finished()[0]?.status, null, 1));
const phases = new Map<string, number>();
for (const j of finished()) phases.set(j.status!.phase!, (phases.get(j.status!.phase!) ?? 0) + 1);
const lifecycleWrites = new Map(writes);

// The user deletes them: with the finalizer already released at completion, this costs the operator nothing.
await pool(targets, 64, ({ name }) => client.request('DELETE', `${TJ}/namespaces/${NS}/tracejobs/trace-${name}`));
await until(
  () => operator.controller.traceJobs.list().filter((j) => j.metadata.namespace === NS).length === 0,
  'deletion',
  120_000,
);
await sleep(1_000);
abort.abort();
await operator.done.catch(() => {});

const totalWrites = [...writes.values()].reduce((a, b) => a + b, 0);
const deletionWrites = totalWrites - [...lifecycleWrites.values()].reduce((a, b) => a + b, 0);
latencies.sort((a, b) => a - b);
console.log(`\n1. ${JOBS} TraceJobs applied at once across ${JOBS} nodes (${WORKERS} workers)`);
console.log(`   applying them took                  ${((appliedAt - started) / 1000).toFixed(1)} s`);
console.log(`   every tracer pod existed after       ${((allPodsAt - started) / 1000).toFixed(1)} s`);
console.log(
  `   every TraceJob finished after        ${((doneAt - started) / 1000).toFixed(1)} s (${[...phases].map(([p, n]) => `${n} ${p}`).join(', ')})`,
);
console.log(
  `   API writes per TraceJob lifecycle:   ${(totalWrites / JOBS).toFixed(2)} in all, ${((totalWrites - (writes.get('create event') ?? 0)) / JOBS).toFixed(2)} without Events`,
);
for (const [kind, n] of [...writes].sort()) console.log(`     ${kind.padEnd(28)} ${(n / JOBS).toFixed(2)}`);
console.log(`     (of which after the user deleted them: ${deletionWrites})`);
console.log(`   API reads per TraceJob:              ${(reads.count / JOBS).toFixed(2)} (GETs and watch opens)`);
console.log(
  `   reconcile latency (${latencies.length} reconciles): p50 ${percentile(latencies, 50).toFixed(1)} ms, p90 ${percentile(latencies, 90).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms`,
);

// ---- 2. RSS with M TraceJobs cached ------------------------------------------------------------------------------
// They go to a namespace no TracePolicy selects: each is refused once (one status write) and stays in the cache. The
// operator runs as its own process, once with Node's defaults and once with the heap bounded as a container's memory
// limit would bound it: on a 24 GiB host V8 otherwise lets garbage pile up long before it collects.
const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const BOUNDED = process.env.BENCH_OPERATOR_NODE_OPTIONS ?? '--max-old-space-size=64 --max-semi-space-size=1';
console.log(`\n2. operator process with ${CACHED} TraceJobs in its cache`);
for (const [round, nodeOptions] of [
  ['a', ''],
  ['b', BOUNDED],
] as const) {
  const namespace = `bench-unpoliced-${round}`;
  await post('/api/v1/namespaces', { metadata: { name: namespace } });
  const metricsPort = 18000 + Math.floor(Math.random() * 2000);
  const op = spawnChild(
    [
      'operator',
      '--kubeconfig',
      kubeconfig,
      '--results-dir',
      join(dir, 'results'),
      '--namespace',
      TRACER_NS,
      '--workers',
      String(WORKERS),
      '--metrics-addr',
      `127.0.0.1:${metricsPort}`,
    ],
    nodeOptions ? { NODE_OPTIONS: nodeOptions } : {},
  );
  await until(
    () =>
      fetch(`http://127.0.0.1:${metricsPort}/readyz`).then(
        (r) => r.ok,
        () => false,
      ),
    'the operator process',
    60_000,
  );
  const idleRss = rssOf(op.pid!);
  started = Date.now();
  await pool(
    Array.from({ length: CACHED }, (_, i) => i),
    64,
    (i) =>
      post(`${TJ}/namespaces/${namespace}/tracejobs`, {
        apiVersion: 'tracejob.dev/v1alpha1',
        kind: 'TraceJob',
        metadata: { name: `cached-${i}`, labels: { team: 'bench', app: `app-${i % 100}` } },
        spec: { target: { selector: { matchLabels: { app: 'bench' } } }, tracer: { type: 'profile' }, duration: '30s' },
      }),
  );
  const metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const failed = async () => Number(/^tracejob_tracejobs\{phase="Failed"\} (\d+)$/m.exec(await metrics())?.[1] ?? 0);
  await until(async () => (await failed()) >= CACHED, `${CACHED} TraceJobs reconciled`, 900_000);
  const reconciledIn = (Date.now() - started) / 1000;
  await sleep(3_000);
  const rss = rssOf(op.pid!);
  const text = await metrics();
  const heap = Number(/^tracejob_nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1] ?? NaN) / 1048576;
  const results = [...text.matchAll(/^tracejob_reconcile_total\{result="(\w+)"\} (\d+)$/gm)]
    .map((m) => `${m[2]} ${m[1]}`)
    .join(', ');
  console.log(
    `   ${nodeOptions ? `NODE_OPTIONS="${nodeOptions}"` : 'Node defaults'}: RSS ${rss.toFixed(0)} MB, V8 heap in use ${heap.toFixed(0)} MB (idle: RSS ${idleRss.toFixed(0)} MB); all reconciled ${reconciledIn.toFixed(0)} s after the first was applied (${results})`,
  );
  op.kill('SIGTERM');
  await new Promise((r) => (op.exitCode !== null ? r(null) : op.once('exit', r)));
  await client.request('DELETE', `${TJ}/namespaces/${namespace}/tracejobs`);
}

cluster.kill('SIGTERM');
await new Promise((r) => (cluster.exitCode !== null ? r(null) : cluster.once('exit', r)));
await rm(dir, { recursive: true, force: true });

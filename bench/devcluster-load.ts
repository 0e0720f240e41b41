/**
 * Load on the development cluster's API server: 10,000 custom objects and 10,000 pods, 20 watchers. Prints create
 * throughput, list latency (full and paginated), event fan-out delay to the watchers, and the server's memory.
 * The server runs as its own process (`tracejob devcluster --no-kubelet`), so the figures are the server's alone.
 *
 *   node bench/devcluster-load.ts [--objects 10000] [--watchers 20]
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig, Watch } from '@kubernetes/client-node';

const { values } = parseArgs({
  options: { objects: { type: 'string', default: '10000' }, watchers: { type: 'string', default: '20' } },
});
const objects = Number(values.objects);
const watcherCount = Number(values.watchers);
const root = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'devcluster-bench-'));
const kubeconfig = join(dir, 'kubeconfig');

const server = spawn(
  process.execPath,
  [
    join(root, 'bin', 'tracejob.js'),
    'devcluster',
    '--kubeconfig',
    kubeconfig,
    '--state-dir',
    join(dir, 'state'),
    '--no-kubelet',
  ],
  {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, TRACEJOB_LOG_LEVEL: 'warn' },
  },
);

function rssMiB(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

function summary(xs: number[]): string {
  return `p50 ${percentile(xs, 50).toFixed(1)} ms, p95 ${percentile(xs, 95).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms (n=${xs.length})`;
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

try {
  for (let i = 0; !existsSync(kubeconfig); i++) {
    if (i > 200) throw new Error('the development cluster did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const server = kc.getCurrentCluster()?.server as string;
  // Plain fetch with its pooled connections: client-node 2.0.1 opens a new connection per request on this kubeconfig
  // (a fresh dispatcher each time), which would measure the client's socket churn instead of the server.
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<{ items?: unknown[]; metadata?: { resourceVersion?: string } }> => {
    const res = await fetch(`${server}${path}`, {
      method,
      headers: { 'Content-Type': contentType },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path}: HTTP ${res.status}: ${text.slice(0, 300)}`);
    return JSON.parse(text) as { items?: unknown[]; metadata?: { resourceVersion?: string } };
  };
  const widgetsPath = '/apis/bench.tracejob.dev/v1/namespaces/default/widgets';
  const podsPath = '/api/v1/namespaces/default/pods';
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'widgets.bench.tracejob.dev' },
    spec: {
      group: 'bench.tracejob.dev',
      scope: 'Namespaced',
      names: { plural: 'widgets', kind: 'Widget' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: {
                  type: 'object',
                  properties: {
                    size: { type: 'integer', minimum: 0 },
                    color: { type: 'string', enum: ['red', 'green'] },
                  },
                },
                status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
              },
            },
          },
        },
      ],
    },
  };
  await fetch(`${server}/apis/apiextensions.k8s.io/v1/customresourcedefinitions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(crd),
  });
  await new Promise((r) => setTimeout(r, 200));
  const rssStart = rssMiB();

  const names = Array.from({ length: objects }, (_, i) => `obj-${String(i).padStart(5, '0')}`);
  const shard = (name: string): string => String(Number(name.slice(-1)) % 4);
  let t0 = performance.now();
  await pool(names, 32, async (name) => {
    await call('POST', widgetsPath, {
      apiVersion: 'bench.tracejob.dev/v1',
      kind: 'Widget',
      metadata: { name, labels: { shard: shard(name) } },
      spec: { size: 1, color: 'red' },
    });
  });
  const crSeconds = (performance.now() - t0) / 1000;
  t0 = performance.now();
  await pool(names, 32, async (name) => {
    await call('POST', podsPath, {
      metadata: { name, labels: { app: 'bench', shard: shard(name) } },
      spec: {
        nodeName: 'fake-node',
        containers: [
          {
            name: 'main',
            image: 'registry.example/app:1',
            command: ['sleep', 'infinity'],
            env: [{ name: 'N', value: name }],
          },
        ],
      },
    });
  });
  const podSeconds = (performance.now() - t0) / 1000;
  const rssLoaded = rssMiB();

  const listTimes = {
    widgets: [] as number[],
    pods: [] as number[],
    podsPaged: [] as number[],
    podsSelected: [] as number[],
  };
  for (let i = 0; i < 10; i++) {
    let t = performance.now();
    const w = await call('GET', widgetsPath);
    listTimes.widgets.push(performance.now() - t);
    if (w.items?.length !== objects) throw new Error(`listed ${w.items?.length} widgets, expected ${objects}`);
    t = performance.now();
    const p = await call('GET', podsPath);
    listTimes.pods.push(performance.now() - t);
    if (p.items?.length !== objects) throw new Error(`listed ${p.items?.length} pods, expected ${objects}`);
    t = performance.now();
    await call('GET', `${podsPath}?limit=500`);
    listTimes.podsPaged.push(performance.now() - t);
    t = performance.now();
    await call('GET', `${podsPath}?labelSelector=shard%3D1&fieldSelector=spec.nodeName%3Dfake-node`);
    listTimes.podsSelected.push(performance.now() - t);
  }

  // Watchers (client-node, as the operator uses them): half on pods, half on widgets, from the current resourceVersion.
  const sent = new Map<string, number>();
  const delays: number[] = [];
  const controllers: AbortController[] = [];
  const rv = (await call('GET', `${podsPath}?limit=1`)).metadata?.resourceVersion;
  let received = 0;
  for (let i = 0; i < watcherCount; i++) {
    const path = i % 2 === 0 ? podsPath : widgetsPath;
    controllers.push(
      await new Watch(kc).watch(
        path,
        { resourceVersion: rv },
        (type, obj: { kind: string; metadata: { name: string } }) => {
          if (type !== 'MODIFIED') return;
          const start = sent.get(`${obj.kind}/${obj.metadata.name}`);
          if (start !== undefined) delays.push(performance.now() - start);
          received++;
        },
        () => {},
      ),
    );
  }
  await new Promise((r) => setTimeout(r, 300));
  const updates = 200;
  const merge = 'application/merge-patch+json';
  for (let i = 0; i < updates; i++) {
    const name = names[(i * 37) % objects] as string;
    const pod = i % 2 === 0;
    sent.set(`${pod ? 'Pod' : 'Widget'}/${name}`, performance.now());
    await call('PATCH', `${pod ? podsPath : widgetsPath}/${name}/status`, { status: { message: `tick ${i}` } }, merge);
    await new Promise((r) => setTimeout(r, 5));
  }
  const expected = updates * (watcherCount / 2);
  for (let i = 0; received < expected && i < 200; i++) await new Promise((r) => setTimeout(r, 25));
  const steadyReceived = received;
  sent.clear();
  const burstStart = performance.now();
  const burstTarget = received + 100 * (watcherCount / 2);
  await Promise.all(
    names
      .slice(0, 100)
      .map((name) => call('PATCH', `${podsPath}/${name}/status`, { status: { message: 'burst' } }, merge)),
  );
  for (let i = 0; received < burstTarget && i < 400; i++) await new Promise((r) => setTimeout(r, 5));
  const burstMs = performance.now() - burstStart;
  const rssWatched = rssMiB();
  for (const c of controllers) c.abort();

  console.log(
    `devcluster load: ${objects} custom objects + ${objects} pods, ${watcherCount} watchers (server in its own process)`,
  );
  console.log(`create custom objects: ${(objects / crSeconds).toFixed(0)}/s (32 concurrent clients)`);
  console.log(`create pods:           ${(objects / podSeconds).toFixed(0)}/s (32 concurrent clients)`);
  console.log(`list ${objects} widgets:             ${summary(listTimes.widgets)}`);
  console.log(`list ${objects} pods:                ${summary(listTimes.pods)}`);
  console.log(`list pods, limit=500:             ${summary(listTimes.podsPaged)}`);
  console.log(`list pods, label+field selector:  ${summary(listTimes.podsSelected)}`);
  console.log(
    `event fan-out (write sent -> watcher got it), ${steadyReceived >= expected ? 'all' : `${steadyReceived}/${expected}`} events: ${summary(delays)}`,
  );
  console.log(
    `burst of 100 concurrent pod status writes -> ${100 * (watcherCount / 2)} watch events delivered in ${burstMs.toFixed(0)} ms`,
  );
  console.log(
    `server RSS: ${rssStart.toFixed(0)} MiB empty, ${rssLoaded.toFixed(0)} MiB with ${2 * objects} objects, ${rssWatched.toFixed(0)} MiB with ${watcherCount} watchers`,
  );
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}

/**
 * `npm run demo`: the whole path a user meets, on this machine. Starts the development cluster (API server + a kubelet
 * running real runc containers), an S3-protocol store on loopback and the operator out of cluster; runs a workload pod
 * whose hot function is known; `kubectl apply -f examples/profile.yaml`; waits; prints what the TraceJob says; downloads
 * the flame graph and exits non-zero unless it shows the hot function.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import S3rver from 's3rver';
import { startDevCluster, type DevCluster } from '../src/devcluster/index.ts';
import { kubeTools } from '../src/devcluster/kube-tools.ts';
import { startLocalOperator } from '../src/devcluster/local-operator.ts';

const run = promisify(execFile);
const checkout = resolve(dirname(new URL(import.meta.url).pathname), '..');
const workDir = join(checkout, '.cache', 'demo');
const HOT_FUNCTION = 'tracejob_demo_hot_spin';
const TRACER_NAMESPACE = 'tracejob-system';
const BUCKET = 'tracejob-results';
const S3_KEY = 'S3RVER';

/** Debian packages the demo needs, by the command that shows each is there. */
const systemPackages: Record<string, string> = {
  runc: 'runc',
  perf: 'linux-perf',
  bpftrace: 'bpftrace',
  unzip: 'unzip',
  cc: 'gcc',
};

function step(message: string): void {
  console.log(`\n==> ${message}`);
}

function onPath(binary: string): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', binary], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function ensureSystemPackages(): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new Error('the demo runs containers and tracers: run it as root (sudo npm run demo)');
  }
  const missing = Object.entries(systemPackages)
    .filter(([binary]) => !onPath(binary))
    .map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  step(`installing missing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
  } catch (err) {
    throw new Error(`could not install ${missing.join(' ')}; install them with apt-get and run the demo again`, {
      cause: err,
    });
  }
}

async function kubectl(kubeconfig: string, args: string[], input?: string): Promise<string> {
  const { kubectl: binary } = await kubeTools();
  const child = run(binary, ['--kubeconfig', kubeconfig, ...args], { maxBuffer: 64 * 1024 * 1024 });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  const { stdout } = await child;
  return stdout;
}

function workloadPod(binary: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-0', namespace: 'demo', labels: { app: 'web' } },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 2,
      containers: [
        {
          name: 'app',
          image: 'debian:12-slim',
          command: [binary],
          resources: { requests: { cpu: '100m', memory: '16Mi' }, limits: { cpu: '1', memory: '64Mi' } },
        },
      ],
    },
  });
}

interface Status {
  phase?: string;
  message?: string;
  summary?: { samples: number; topFrames: { frame: string; self: number; total: number }[] };
  artifacts?: { name: string; format: string; uri: string; sizeBytes: number; url?: string }[];
}

async function waitForFinish(kubeconfig: string, timeoutMs: number): Promise<Status> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const status = JSON.parse(
      await kubectl(kubeconfig, ['get', 'tracejob', 'web-cpu', '-n', 'demo', '-o', 'jsonpath={.status}']).then(
        (s) => s || '{}',
      ),
    ) as Status;
    if (status.phase !== last) {
      console.log(`    phase: ${status.phase ?? '(none yet)'}${status.message ? ` (${status.message})` : ''}`);
      last = status.phase ?? '';
    }
    if (status.phase === 'Succeeded' || status.phase === 'Failed') return status;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`the TraceJob did not finish within ${timeoutMs / 1000} s`);
}

async function main(): Promise<number> {
  const started = Date.now();
  await ensureSystemPackages();
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });

  step('building the workload (a C program whose hottest function is ' + HOT_FUNCTION + ')');
  const binary = join(workDir, 'hot');
  await run('cc', ['-O2', '-g', '-fno-omit-frame-pointer', '-o', binary, join(checkout, 'demo', 'hot.c')]);

  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => console.error(`cleanup: ${String(err)}`));
    cleanups.length = 0;
  };
  const interrupted = () => void cleanup().then(() => process.exit(130));
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);

  try {
    step('starting the development cluster (API server on loopback + kubelet running runc containers)');
    const cluster: DevCluster = await startDevCluster({ stateDir: join(workDir, 'cluster'), kubelet: true });
    cleanups.push(() => cluster.stop());
    const kubeconfig = cluster.kubeconfigPath;
    console.log(`    kubeconfig: ${kubeconfig}  (try: kubectl --kubeconfig ${kubeconfig} get nodes)`);

    step('starting an S3-protocol store (s3rver) on loopback');
    const s3 = new S3rver({
      address: '127.0.0.1',
      port: 0,
      silent: true,
      directory: join(workDir, 's3'),
      configureBuckets: [{ name: BUCKET }],
    });
    const s3Address = (await s3.run()) as AddressInfo;
    cleanups.push(() => s3.close());
    const endpoint = `http://127.0.0.1:${s3Address.port}`;
    console.log(`    endpoint: ${endpoint}, bucket: ${BUCKET}`);

    step('helm install tracejob charts/tracejob-operator, then the operator out of cluster with the rendered config');
    const operator = await startLocalOperator({
      kubeconfig,
      workDir,
      store: { endpoint, bucket: BUCKET, accessKeyId: S3_KEY, secretAccessKey: S3_KEY },
      tracerNamespace: TRACER_NAMESPACE,
      operatorNamespace: 'tracejob-operator',
    });
    cleanups.push(() => operator.stop());
    console.log(`    operator logs: ${operator.logPath}`);
    await kubectl(
      kubeconfig,
      ['apply', '-f', '-'],
      JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo' } }),
    );

    step('starting the workload pod demo/web-0');
    await kubectl(kubeconfig, ['apply', '-f', '-'], workloadPod(binary));
    await kubectl(kubeconfig, [
      'wait',
      '--for=jsonpath={.status.phase}=Running',
      'pod/web-0',
      '-n',
      'demo',
      '--timeout=60s',
    ]);

    step('kubectl apply -f examples/profile.yaml (a 30 s CPU profile of web-0)');
    console.log(await kubectl(kubeconfig, ['apply', '-f', join(checkout, 'examples', 'profile.yaml')]));
    const status = await waitForFinish(kubeconfig, 150_000);

    step('kubectl get tracejobs -n demo');
    console.log(await kubectl(kubeconfig, ['get', 'tracejobs', '-n', 'demo']));
    if (status.phase !== 'Succeeded') {
      console.error(
        `the TraceJob failed: ${status.message ?? '(no message)'}; operator logs: ${join(workDir, 'operator.log')}`,
      );
      return 1;
    }

    step('top frames (status.summary)');
    for (const f of status.summary?.topFrames ?? []) {
      console.log(
        `    ${(f.self * 100).toFixed(1).padStart(5)}% self ${(f.total * 100).toFixed(1).padStart(5)}% total  ${f.frame}`,
      );
    }
    console.log(`    samples: ${status.summary?.samples ?? 0}`);

    step('artifacts (status.artifacts)');
    for (const a of status.artifacts ?? [])
      console.log(`    ${a.name.padEnd(24)} ${String(a.sizeBytes).padStart(9)} B  ${a.uri}`);

    const flamegraph = status.artifacts?.find((a) => a.format === 'flamegraph');
    if (!flamegraph) {
      console.error('no flame graph among the artifacts');
      return 1;
    }
    if (!flamegraph.url) {
      console.error('the flame graph has no presigned link (status.artifacts[].url)');
      return 1;
    }
    const svgPath = join(workDir, 'web-cpu.svg');
    await download(flamegraph.url, svgPath);
    const svg = await readFile(svgPath, 'utf8');
    const shows = svg.includes(HOT_FUNCTION);
    step(`flame graph: ${svgPath}`);
    console.log(`    downloaded through its presigned link (status.artifacts[].url), which works while a store runs`);
    console.log(`    open it in a browser: search with Ctrl-F, click a frame to zoom`);
    console.log(
      shows
        ? `    it shows the workload's hot function ${HOT_FUNCTION}`
        : `    it does NOT show ${HOT_FUNCTION}: the profile missed the workload`,
    );
    console.log(`\ndemo finished in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return shows ? 0 : 1;
  } finally {
    step('cleaning up (operator, pods, containers, cgroups, stores)');
    await cleanup();
  }
}

/** Fetches an artifact through its presigned link, as a browser would. */
async function download(url: string, target: string): Promise<void> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${response.statusText}`);
  await writeFile(target, Buffer.from(await response.arrayBuffer()));
}

if (!existsSync(join(checkout, 'node_modules'))) {
  console.error('run `npm ci` first');
  process.exit(1);
}
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);

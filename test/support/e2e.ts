/**
 * The end-to-end environment: a cluster with the tracejob chart installed and an operator acting on it, plus the
 * helpers the e2e scenarios share (workload pods, `kubectl apply -f`, waiting for TraceJobs, downloading artifacts).
 *
 * On the development cluster it installs the chart with helm (replicaCount 0, as `npm run demo` does), starts s3rver
 * on loopback as the default storage profile and runs the operator out of cluster as a child process with the
 * configuration the chart rendered. On a real cluster (TRACEJOB_E2E_KUBECONFIG=1) it expects the operator installed,
 * with a default storage profile whose artifacts carry presigned URLs, and only creates namespaces, a TracePolicy
 * and workloads. Settings for a real cluster: TRACEJOB_E2E_TRACER_NAMESPACE (default tracejob-tracers),
 * TRACEJOB_E2E_OPERATOR_NAMESPACE (default tracejob-operator), TRACEJOB_E2E_C_IMAGE (an image with sh and cc,
 * default gcc:12), TRACEJOB_E2E_NODE_IMAGE (default node:24-slim).
 */
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import S3rver from 's3rver';
import { startLocalOperator } from '../../src/devcluster/local-operator.ts';
import { useCluster, type KubectlResult, type TestCluster } from './cluster.ts';

const checkout = new URL('../..', import.meta.url).pathname;
const BUCKET = 'tracejob-results';
const S3_KEY = 'S3RVER';

export interface TraceJobStatus {
  phase?: string;
  message?: string;
  conditions?: { type: string; status: string; reason?: string; message?: string }[];
  targets?: { namespace: string; pod: string; state: string; pids?: number[]; message?: string; node?: string }[];
  artifacts?: {
    name: string;
    format: string;
    uri: string;
    sizeBytes: number;
    url?: string;
    urlExpiresAt?: string;
    pod?: string;
  }[];
  summary?: { samples: number; topFrames: { frame: string; self: number; total: number }[] };
}

export interface TraceJobObject {
  metadata: { name: string; namespace: string; uid: string };
  status?: TraceJobStatus;
}

/** A workload pod whose hot function is known. */
export type WorkloadKind = 'c-demo' | 'c-runner' | 'c-sleeper' | 'node';

export const hotFunctions: Record<WorkloadKind, string> = {
  'c-demo': 'tracejob_demo_hot_spin',
  'c-runner': 'tracejob_hot_spin',
  'c-sleeper': 'tracejob_wait_for_work',
  node: 'tracejobJsHotLoop',
};

export interface Environment {
  cluster: TestCluster;
  /** Namespace of this test file's workloads and TraceJobs; a TracePolicy of its own allows every tracer there. */
  namespace: string;
  tracerNamespace: string;
  /** kubectl that throws on a non-zero exit, with its stderr. */
  kubectl(args: string[], options?: { input?: string; timeoutMs?: number }): Promise<string>;
  /** `kubectl apply -n <namespace> -f test/fixtures/e2e/<file>`. */
  applyFixture(file: string): Promise<KubectlResult>;
  /** Starts a workload pod and resolves once its hot loop runs. */
  startWorkload(pod: string, kind: WorkloadKind, labels?: Record<string, string>): Promise<void>;
  /** Polls until the TraceJob reaches one of `phases` (default: Succeeded or Failed). */
  waitForTraceJob(name: string, options?: { phases?: string[]; timeoutMs?: number }): Promise<TraceJobObject>;
  getTraceJob(name: string): Promise<TraceJobObject | undefined>;
  /** The artifact's bytes, as stored (a .gz artifact stays compressed). */
  download(artifact: { uri: string; url?: string }): Promise<Buffer>;
  /** The tracer pods of a TraceJob, by its UID. */
  tracerPods(uid: string): Promise<{ name: string; uid: string; phase: string }[]>;
  /**
   * Host processes in a pod's cgroups; undefined on a real cluster, whose nodes this machine cannot see.
   */
  processesOfPod(podUID: string): Promise<number[] | undefined>;
  /** Kills the operator (SIGKILL, or deleting its pods on a real cluster) and starts it again. */
  restartOperator(): Promise<void>;
  /** What the operator logged, for failure messages (empty on a real cluster). */
  operatorLog(): Promise<string>;
  stop(): Promise<void>;
}

function random(): string {
  return randomBytes(3).toString('hex');
}

export async function useEnvironment(name: string): Promise<Environment> {
  const cluster = await useCluster({ kubelet: true });
  const cleanups: (() => Promise<unknown>)[] = [async () => cluster.stop()];
  const stop = async () => {
    for (const fn of cleanups.reverse())
      await fn().catch((err: unknown) => console.error(`e2e cleanup: ${String(err)}`));
    cleanups.length = 0;
  };
  const kubectl = async (args: string[], options: { input?: string; timeoutMs?: number } = {}) => {
    const result = await cluster.kubectl(args, options);
    if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
    return result.stdout;
  };
  try {
    const dir = await mkdtemp(join(tmpdir(), `tracejob-e2e-${name}-`));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const tracerNamespace = cluster.isDevCluster
      ? 'tracejob-tracers'
      : (process.env.TRACEJOB_E2E_TRACER_NAMESPACE ?? 'tracejob-tracers');
    const operatorNamespace = process.env.TRACEJOB_E2E_OPERATOR_NAMESPACE ?? 'tracejob-operator';

    let s3: { endpoint: string; client: S3Client } | undefined;
    let operator: { restart(): Promise<void>; log(): Promise<string> } | undefined;
    if (cluster.isDevCluster) {
      const store = new S3rver({
        address: '127.0.0.1',
        port: 0,
        silent: true,
        directory: join(dir, 's3'),
        configureBuckets: [{ name: BUCKET }],
      });
      const address = (await store.run()) as AddressInfo;
      cleanups.push(() => store.close());
      const endpoint = `http://127.0.0.1:${address.port}`;
      const client = new S3Client({
        endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: S3_KEY, secretAccessKey: S3_KEY },
      });
      cleanups.push(async () => client.destroy());
      s3 = { endpoint, client };
      const local = await startLocalOperator({
        kubeconfig: cluster.kubeconfigPath,
        workDir: dir,
        store: { endpoint, bucket: BUCKET, accessKeyId: S3_KEY, secretAccessKey: S3_KEY },
        tracerNamespace,
        operatorNamespace,
      });
      // Before the cluster stops: an operator whose API server is gone only logs errors.
      cleanups.push(() => local.stop());
      operator = local;
    }

    const namespace = `e2e-${name}-${random()}`;
    await kubectl(['create', 'namespace', namespace]);
    cleanups.push(() => kubectl(['delete', 'namespace', namespace, '--wait=false']));
    await kubectl(['label', 'namespace', namespace, `tracejob.dev/e2e=${namespace}`]);
    const policyName = namespace;
    await kubectl(['apply', '-f', '-'], { input: JSON.stringify(policy(policyName, namespace)) });
    cleanups.push(() => kubectl(['delete', 'tracepolicy', policyName, '--ignore-not-found']));
    await kubectl([
      'create',
      'configmap',
      'e2e-sources',
      '-n',
      namespace,
      `--from-file=demo-hot.c=${join(checkout, 'demo', 'hot.c')}`,
      `--from-file=runner-hot.c=${join(checkout, 'test', 'fixtures', 'runner', 'hot.c')}`,
      `--from-file=sleeper.c=${join(checkout, 'test', 'fixtures', 'runner', 'sleeper.c')}`,
      `--from-file=hot.js=${join(checkout, 'test', 'fixtures', 'runner', 'hot.js')}`,
    ]);
    // Pods first, so their containers stop before the cluster does.
    cleanups.push(() =>
      kubectl(['delete', 'pods,tracejobs', '--all', '-n', namespace, '--wait=true', '--timeout=60s'], {
        timeoutMs: 90_000,
      }),
    );

    const getTraceJob = async (jobName: string): Promise<TraceJobObject | undefined> => {
      const result = await cluster.kubectl(['get', 'tracejob', jobName, '-n', namespace, '-o', 'json']);
      if (result.code !== 0) {
        if (/NotFound/.test(result.stderr)) return undefined;
        throw new Error(`kubectl get tracejob ${jobName}: ${result.stderr}`);
      }
      return JSON.parse(result.stdout) as TraceJobObject;
    };

    return {
      cluster,
      namespace,
      tracerNamespace,
      kubectl,
      applyFixture: (file) =>
        cluster.kubectl(['apply', '-n', namespace, '-f', join(checkout, 'test', 'fixtures', 'e2e', file)]),
      async startWorkload(pod, kind, labels = {}) {
        await kubectl(['apply', '-f', '-'], { input: JSON.stringify(workloadPod(namespace, pod, kind, labels)) });
        const deadline = Date.now() + 90_000;
        // Running is not enough: the C workloads compile first. They say "ready" just before exec'ing the hot loop.
        for (;;) {
          const logs = await cluster.kubectl(['logs', pod, '-n', namespace]);
          if (logs.code === 0 && logs.stdout.includes('ready')) return;
          if (Date.now() > deadline) {
            const describe = await cluster.kubectl(['get', 'pod', pod, '-n', namespace, '-o', 'yaml']);
            throw new Error(`workload ${pod} did not start: ${logs.stderr}${logs.stdout}\n${describe.stdout}`);
          }
          await sleep(500);
        }
      },
      async waitForTraceJob(jobName, options = {}) {
        const phases = options.phases ?? ['Succeeded', 'Failed'];
        const deadline = Date.now() + (options.timeoutMs ?? 120_000);
        let last: TraceJobObject | undefined;
        while (Date.now() < deadline) {
          last = await getTraceJob(jobName);
          if (last?.status?.phase && phases.includes(last.status.phase)) return last;
          await sleep(500);
        }
        throw new Error(
          `TraceJob ${jobName} did not reach ${phases.join('/')}: ${JSON.stringify(last?.status)}\n` +
            (await operator?.log().then((l) => l.slice(-4000))),
        );
      },
      getTraceJob,
      async download(artifact) {
        if (s3) {
          const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(artifact.uri);
          if (!match) throw new Error(`unexpected artifact URI ${artifact.uri}`);
          const object = await s3.client.send(new GetObjectCommand({ Bucket: match[1], Key: match[2] }));
          const bytes = Buffer.from((await object.Body?.transformToByteArray()) ?? []);
          return object.ContentEncoding === 'gzip' ? gunzipSync(bytes) : bytes;
        }
        if (!artifact.url) throw new Error(`artifact ${artifact.uri} has no URL: configure presigned URLs`);
        const response = await fetch(artifact.url);
        if (!response.ok) throw new Error(`GET ${artifact.url}: ${response.status}`);
        return Buffer.from(await response.arrayBuffer());
      },
      async tracerPods(uid) {
        const out = await kubectl([
          'get',
          'pods',
          '-n',
          tracerNamespace,
          '-l',
          `tracejob.dev/uid=${uid}`,
          '-o',
          'json',
        ]);
        const list = JSON.parse(out) as {
          items: { metadata: { name: string; uid: string }; status?: { phase?: string } }[];
        };
        return list.items.map((p) => ({ name: p.metadata.name, uid: p.metadata.uid, phase: p.status?.phase ?? '' }));
      },
      async processesOfPod(podUID) {
        if (!cluster.isDevCluster) return undefined;
        return processesInCgroupsOf(podUID);
      },
      async restartOperator() {
        if (operator) return operator.restart();
        await kubectl([
          'delete',
          'pods',
          '-n',
          operatorNamespace,
          '-l',
          'app.kubernetes.io/name=tracejob-operator',
          '--wait=false',
        ]);
      },
      operatorLog: async () => (operator ? operator.log() : ''),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function policy(name: string, namespace: string): object {
  return {
    apiVersion: 'tracejob.dev/v1alpha1',
    kind: 'TracePolicy',
    metadata: { name },
    spec: {
      namespaceSelector: { matchLabels: { 'tracejob.dev/e2e': namespace } },
      priority: 500,
      allowedTracers: ['profile', 'perf', 'bpftrace', 'tool', 'strace', 'ftrace', 'gdb'],
      allowedTools: ['offcputime'],
      allowCustomBpftrace: true,
      maxDuration: '1m',
      maxConcurrentPerNamespace: 20,
      maxConcurrentPerNode: 20,
      allowKernelStacks: true,
    },
  };
}

/**
 * A pod whose image carries its toolchain (sh and cc, or node); the sources come from a ConfigMap, so the same pod
 * runs on the development cluster (whose containers see the host's root filesystem) and on a real cluster.
 */
function workloadPod(namespace: string, name: string, kind: WorkloadKind, labels: Record<string, string>): object {
  const c = (source: string, args: string) => ({
    image: process.env.TRACEJOB_E2E_C_IMAGE ?? 'gcc:12',
    command: [
      'sh',
      '-c',
      `cc -O2 -g -fno-omit-frame-pointer -o /build/hot /src/${source} && echo ready && exec /build/hot ${args}`,
    ],
  });
  const container =
    kind === 'node'
      ? {
          image: process.env.TRACEJOB_E2E_NODE_IMAGE ?? 'node:24-slim',
          command: ['sh', '-c', 'echo ready && exec node --perf-basic-prof /src/hot.js 600'],
        }
      : kind === 'c-demo'
        ? c('demo-hot.c', '')
        : kind === 'c-runner'
          ? c('runner-hot.c', '0')
          : c('sleeper.c', '');
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { 'tracejob.dev/workload': kind, ...labels } },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 2,
      containers: [
        {
          name: 'app',
          ...container,
          volumeMounts: [
            { name: 'src', mountPath: '/src', readOnly: true },
            { name: 'build', mountPath: '/build' },
          ],
          // The workloads spin: cap them so several fit beside the tracers on a 2-core machine.
          resources: { requests: { cpu: '100m', memory: '32Mi' }, limits: { cpu: '300m', memory: '256Mi' } },
        },
      ],
      volumes: [
        { name: 'src', configMap: { name: 'e2e-sources' } },
        { name: 'build', emptyDir: {} },
      ],
    },
  };
}

/** PIDs whose cgroup path names the pod (kubelet-style: pod<uid>, with dashes or, for systemd, underscores). */
async function processesInCgroupsOf(podUID: string): Promise<number[]> {
  const needles = [`pod${podUID}`, `pod${podUID.replaceAll('-', '_')}`];
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cgroup = await readFile(`/proc/${entry}/cgroup`, 'utf8').catch(() => '');
    if (needles.some((n) => cgroup.includes(n))) pids.push(Number(entry));
  }
  return pids;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

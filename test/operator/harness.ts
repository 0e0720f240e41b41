import type { V1Pod } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { load as loadYaml } from 'js-yaml';
import { localConfig, type OperatorConfig } from '../../src/operator/config.ts';
import { startOperator, type OperatorOptions, type RunningOperator } from '../../src/operator/index.ts';
import { KubeClient, isAlreadyExists, isNotFound } from '../../src/operator/kube.ts';
import { clusterAccess, type ClusterAccess } from '../../src/operator/kubeconfig.ts';
import { MANAGED_BY_LABEL, MANAGED_BY } from '../../src/operator/names.ts';
import type { TraceJobObject } from '../../src/operator/types.ts';

export const TRACER_NS = 'tracejob-system';
const ROOT = new URL('../../', import.meta.url).pathname;
const TJ = '/apis/tracejob.dev/v1alpha1';

/** Talks to a cluster (the development cluster, or a real one) the way a user and a kubelet would. */
export class Harness {
  readonly client: KubeClient;
  readonly access: ClusterAccess;
  readonly resultsDir: string;
  readonly #operators: { abort: AbortController; operator: RunningOperator }[] = [];

  private constructor(access: ClusterAccess, resultsDir: string) {
    this.access = access;
    this.client = new KubeClient({ access });
    this.resultsDir = resultsDir;
  }

  static async connect(kubeconfigPath: string, resultsDir: string): Promise<Harness> {
    return new Harness(await clusterAccess(kubeconfigPath), resultsDir);
  }

  async apply(path: string, body: { metadata: { name: string } }): Promise<void> {
    try {
      await this.client.request('POST', path, { body });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }

  /** CRDs, the namespaces, and a TracePolicy that lets `namespace` run everything. */
  async setUp(namespace: string, policy: Record<string, unknown> = {}): Promise<void> {
    for (const file of ['crds/tracejob.dev_tracejobs.yaml', 'crds/tracejob.dev_tracepolicies.yaml']) {
      const crd = loadYaml(readFileSync(ROOT + file, 'utf8')) as { metadata: { name: string } };
      await this.apply('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    }
    await this.until(async () => {
      try {
        await this.client.request('GET', `${TJ}/tracepolicies`);
        await this.client.request('GET', `${TJ}/tracejobs`);
        return true;
      } catch {
        return false;
      }
    }, 'the CRDs to be served');
    for (const ns of [namespace, TRACER_NS]) {
      await this.apply('/api/v1/namespaces', { metadata: { name: ns } } as never);
    }
    await this.apply(`/api/v1/namespaces/${TRACER_NS}/serviceaccounts`, {
      metadata: { name: 'tracejob-tracer' },
      automountServiceAccountToken: false,
    } as never);
    await this.apply(`${TJ}/tracepolicies`, {
      apiVersion: 'tracejob.dev/v1alpha1',
      kind: 'TracePolicy',
      metadata: { name: `allow-${namespace}` },
      spec: {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
        allowedTracers: ['profile', 'perf', 'bpftrace', 'tool', 'strace', 'ftrace', 'gdb'],
        allowKernelStacks: true,
        maxConcurrentPerNamespace: 50,
        maxConcurrentPerNode: 50,
        ...policy,
      },
    } as never);
  }

  config(overrides: Partial<OperatorConfig> = {}): OperatorConfig {
    return {
      ...localConfig(this.resultsDir, { tracerNamespace: TRACER_NS, tracerImage: 'localhost/tracejob:dev' }),
      ...overrides,
    };
  }

  /** Starts an operator in this process; stopped by `stopAll` or by aborting the returned controller. */
  async startOperator(
    options: Partial<OperatorOptions> = {},
  ): Promise<{ operator: RunningOperator; abort: AbortController }> {
    const abort = new AbortController();
    const operator = await startOperator({
      access: this.access,
      config: this.config(),
      metricsAddr: '127.0.0.1:0',
      workers: 2,
      signal: abort.signal,
      tuning: {
        informer: { silenceMs: 15_000, backoffBaseMs: 50, backoffMaxMs: 1_000, watchTimeoutSeconds: 60 },
        targetCheckMs: 1_000,
      },
      ...options,
    });
    operator.done.catch(() => {});
    const entry = { abort, operator };
    this.#operators.push(entry);
    return entry;
  }

  async stopAll(): Promise<void> {
    for (const { abort, operator } of this.#operators.splice(0)) {
      abort.abort();
      await operator.done.catch(() => {});
    }
  }

  async createTraceJob(namespace: string, name: string, spec: Record<string, unknown>): Promise<TraceJobObject> {
    return this.client.request('POST', `${TJ}/namespaces/${namespace}/tracejobs`, {
      body: { apiVersion: 'tracejob.dev/v1alpha1', kind: 'TraceJob', metadata: { name, namespace }, spec },
    });
  }

  async getTraceJob(namespace: string, name: string): Promise<TraceJobObject | undefined> {
    try {
      return await this.client.request<TraceJobObject>('GET', `${TJ}/namespaces/${namespace}/tracejobs/${name}`);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async deleteTraceJob(namespace: string, name: string): Promise<void> {
    await this.client.request('DELETE', `${TJ}/namespaces/${namespace}/tracejobs/${name}`);
  }

  async tracerPods(): Promise<V1Pod[]> {
    const list = await this.client.request<{ items: V1Pod[] }>('GET', `/api/v1/namespaces/${TRACER_NS}/pods`, {
      query: { labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY}` },
    });
    return list.items;
  }

  /** Polls until `check` holds; every test wait is bounded. */
  async until<T>(check: () => Promise<T | false | undefined>, what: string, ms = 30_000): Promise<T> {
    const deadline = Date.now() + ms;
    let last: unknown;
    for (;;) {
      try {
        const value = await check();
        if (value) return value;
      } catch (err) {
        last = err;
      }
      if (Date.now() > deadline)
        throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (${String(last)})` : ''}`);
      await sleep(100);
    }
  }

  /** Phases a TraceJob goes through, recorded by polling until it finishes. */
  async phasesUntilFinished(
    namespace: string,
    name: string,
    ms = 60_000,
  ): Promise<{ phases: string[]; job: TraceJobObject }> {
    const phases: string[] = [];
    const job = await this.until(
      async () => {
        const job = await this.getTraceJob(namespace, name);
        const phase = job?.status?.phase;
        if (phase && phases.at(-1) !== phase) phases.push(phase);
        return phase === 'Succeeded' || phase === 'Failed' ? job : undefined;
      },
      `TraceJob ${namespace}/${name} to finish`,
      ms,
    );
    return { phases, job };
  }
}

/** A Node object that reports Ready, for pods that a test moves through their phases itself. */
export async function createReadyNode(h: Harness, name: string): Promise<void> {
  await h.apply('/api/v1/nodes', { metadata: { name, labels: { 'kubernetes.io/hostname': name } } } as never);
  await h.client.request('PATCH', `/api/v1/nodes/${name}/status`, {
    contentType: 'application/merge-patch+json',
    body: {
      status: {
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'KubeletReady',
            message: 'fake node',
            lastHeartbeatTime: new Date().toISOString(),
            lastTransitionTime: new Date().toISOString(),
          },
        ],
      },
    },
  });
}

const hex = (n: number) => n.toString(16).padStart(64, '0');

/** A target pod on a fake node, reported Running with a container ID, as a kubelet would. */
export async function createRunningPod(
  h: Harness,
  namespace: string,
  name: string,
  node: string,
  labels: Record<string, string> = {},
): Promise<V1Pod> {
  const pod = await h.client.request<V1Pod>('POST', `/api/v1/namespaces/${namespace}/pods`, {
    body: {
      metadata: { name, namespace, labels },
      spec: { nodeName: node, containers: [{ name: 'app', image: 'registry.example/app:1' }] },
    },
  });
  return setPodStatus(h, pod, {
    phase: 'Running',
    containerStatuses: [
      {
        name: 'app',
        image: 'registry.example/app:1',
        imageID: '',
        ready: true,
        restartCount: 0,
        started: true,
        containerID: `containerd://${hex(Date.now() + Math.floor(Math.random() * 1e9))}`,
        state: { running: { startedAt: new Date().toISOString() } },
      },
    ],
  });
}

async function setPodStatus(h: Harness, pod: V1Pod, status: Record<string, unknown>): Promise<V1Pod> {
  return h.client.request<V1Pod>(
    'PATCH',
    `/api/v1/namespaces/${pod.metadata!.namespace}/pods/${pod.metadata!.name}/status`,
    {
      contentType: 'application/merge-patch+json',
      body: { status },
    },
  );
}

/** Ends a tracer pod as its runner would: exit code, and the termination message (a manifest or a log tail). */
export async function finishTracerPod(
  h: Harness,
  pod: V1Pod,
  outcome: { exitCode: number; message: string; reason?: string },
): Promise<V1Pod> {
  return setPodStatus(h, pod, {
    phase: outcome.exitCode === 0 ? 'Succeeded' : 'Failed',
    ...(outcome.reason ? { reason: outcome.reason } : {}),
    containerStatuses: [
      {
        name: 'runner',
        image: pod.spec!.containers[0]!.image,
        imageID: '',
        ready: false,
        restartCount: 0,
        state: {
          terminated: {
            exitCode: outcome.exitCode,
            reason: outcome.exitCode === 0 ? 'Completed' : 'Error',
            message: outcome.message,
            startedAt: new Date().toISOString(),
            finishedAt: new Date().toISOString(),
          },
        },
      },
    ],
  });
}

export async function runTracerPod(h: Harness, pod: V1Pod): Promise<V1Pod> {
  return setPodStatus(h, pod, {
    phase: 'Running',
    containerStatuses: [
      {
        name: 'runner',
        image: pod.spec!.containers[0]!.image,
        imageID: '',
        ready: true,
        restartCount: 0,
        started: true,
        containerID: `containerd://${hex(Date.now())}`,
        state: { running: { startedAt: new Date().toISOString() } },
      },
    ],
  });
}

import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';

import { silentLogger, type Logger } from '../../log.ts';
import { newContainerID } from '../runc.ts';
import { parseImage } from './image.ts';
import { watchPods } from './informer.ts';
import { kubeletVersion, nodeLabels, readyConditions, registerNode } from './node.ts';
import { statusCode, toKubeJson } from './api.ts';
import { qosClass } from './resources.ts';
import { podStatus, type ContainerRecord } from './status.ts';

/** Annotations a test puts on a pod to choose how it ends on a fake node. */
export const fakeAnnotations = {
  terminationMessage: 'fake.tracejob.dev/termination-message',
  exitCode: 'fake.tracejob.dev/exit-code',
  runSeconds: 'fake.tracejob.dev/run-seconds',
} as const;

export const fakeNodeLabel = 'tracejob.dev/fake-node';

export interface FakeNodesOptions {
  kubeConfig: KubeConfig;
  count: number;
  signal?: AbortSignal;
  logger?: Logger;
  /** Names are `<prefix>0001`...; default `fake-node-`. */
  prefix?: string;
  /** Pending → Running after this long (default 200 ms). */
  startDelayMs?: number;
  /** Running → Succeeded/Failed after this long unless the pod's run-seconds annotation says otherwise (default 1 s). */
  runMs?: number;
}

export interface FakeNodes {
  names: string[];
  stop(): Promise<void>;
}

export function fakeNodeNames(count: number, prefix = 'fake-node-'): string[] {
  const width = Math.max(4, String(count).length);
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i + 1).padStart(width, '0')}`);
}

function fakeIP(index: number): string {
  return `10.244.${(index >> 8) & 255}.${(index & 255) + 1}`;
}

/** How a pod on a fake node ends, from its annotations; malformed values name the annotation in the message. */
export function fakeOutcome(
  pod: V1Pod,
  defaultRunMs: number,
): { exitCode: number; message?: string; runMs: number; error?: string } {
  const annotations = pod.metadata?.annotations ?? {};
  const message = annotations[fakeAnnotations.terminationMessage];
  const exitText = annotations[fakeAnnotations.exitCode];
  const runText = annotations[fakeAnnotations.runSeconds];
  const exitCode = exitText === undefined ? 0 : Number(exitText);
  const runSeconds = runText === undefined ? undefined : Number(runText);
  if (!Number.isInteger(exitCode) || exitCode < 0 || exitCode > 255) {
    return {
      exitCode: 1,
      runMs: 0,
      error: `annotation ${fakeAnnotations.exitCode}: ${JSON.stringify(exitText)} is not an integer 0..255`,
    };
  }
  if (runSeconds !== undefined && (!Number.isFinite(runSeconds) || runSeconds < 0)) {
    return {
      exitCode: 1,
      runMs: 0,
      error: `annotation ${fakeAnnotations.runSeconds}: ${JSON.stringify(runText)} is not a non-negative number`,
    };
  }
  return {
    exitCode,
    ...(message !== undefined ? { message: Buffer.from(message).subarray(0, 4096).toString('utf8') } : {}),
    runMs: runSeconds === undefined ? defaultRunMs : runSeconds * 1000,
  };
}

/**
 * Nodes whose pods are not run but moved through their phases (in the spirit of kwok), so controllers can be
 * exercised at a thousand-node scale on one machine. One pod watch serves all of them.
 */
export async function startFakeNodes(options: FakeNodesOptions): Promise<FakeNodes> {
  const logger = (options.logger ?? silentLogger()).child({ component: 'fake-nodes' });
  const core = options.kubeConfig.makeApiClient(CoreV1Api);
  const names = fakeNodeNames(options.count, options.prefix);
  const index = new Map(names.map((name, i) => [name, i]));
  const startDelayMs = options.startDelayMs ?? 200;
  const runMs = options.runMs ?? 1000;
  const stopping = new AbortController();
  const timers = new Map<string, NodeJS.Timeout>();
  const seen = new Set<string>();

  const now = new Date();
  const queue = [...names];
  const register = async () => {
    for (let name = queue.shift(); name; name = queue.shift()) {
      const i = index.get(name)!;
      const capacity = { cpu: '32', memory: '131072Mi', pods: '110', 'ephemeral-storage': '1Ti' };
      await registerNode(core, {
        metadata: { name, labels: { ...nodeLabels(name, 'amd64'), [fakeNodeLabel]: 'true' } },
        status: {
          capacity,
          allocatable: capacity,
          conditions: readyConditions(now, true),
          addresses: [
            { type: 'InternalIP', address: fakeIP(i) },
            { type: 'Hostname', address: name },
          ],
          nodeInfo: {
            machineID: name,
            systemUUID: name,
            bootID: name,
            kernelVersion: '6.1.0-fake',
            osImage: 'fake',
            containerRuntimeVersion: 'containerd://fake',
            kubeletVersion,
            kubeProxyVersion: '',
            operatingSystem: 'linux',
            architecture: 'amd64',
          },
        },
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, names.length) }, register));

  const patchStatus = async (pod: V1Pod, status: object) => {
    await core.patchNamespacedPodStatus(
      {
        name: pod.metadata!.name!,
        namespace: pod.metadata!.namespace ?? 'default',
        body: { status: toKubeJson(status) },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  };

  const records = (pod: V1Pod, state: (name: string) => ContainerRecord['state']): ContainerRecord[] =>
    (pod.spec?.containers ?? []).map((c) => {
      const image = parseImage(c.image ?? 'unknown');
      return {
        name: c.name,
        image: image.name,
        imageID: image.imageID,
        containerID: `containerd://${newContainerID()}`,
        restartCount: 0,
        state: state(c.name),
      };
    });

  const advance = async (pod: V1Pod) => {
    const uid = pod.metadata!.uid!;
    const node = pod.spec!.nodeName!;
    const hostIP = fakeIP(index.get(node)!);
    const startTime = new Date();
    const base = { pod, initContainers: [], qosClass: qosClass(pod), hostIP, startTime, sandboxReady: true };
    const startedAt = new Date();
    const running = records(pod, () => ({ running: { startedAt } }));
    await patchStatus(pod, podStatus({ ...base, containers: running, now: new Date() }));
    if (pod.spec?.restartPolicy === 'Always' || pod.spec?.restartPolicy === undefined) return;
    const outcome = fakeOutcome(pod, runMs);
    timers.set(
      uid,
      setTimeout(() => {
        timers.delete(uid);
        const finishedAt = new Date();
        const containers: ContainerRecord[] = running.map((r, i) => ({
          ...r,
          state: {
            terminated: {
              exitCode: outcome.exitCode,
              reason: outcome.exitCode === 0 ? 'Completed' : 'Error',
              ...(i === 0 && (outcome.message ?? outcome.error) !== undefined
                ? { message: outcome.message ?? outcome.error }
                : {}),
              startedAt,
              finishedAt,
              containerID: r.containerID,
            },
          },
        }));
        void patchStatus(pod, podStatus({ ...base, containers, now: new Date() })).catch((err: unknown) => {
          if (statusCode(err) !== 404)
            logger.warn('fake pod completion failed', { pod: pod.metadata?.name, error: String(err) });
        });
      }, outcome.runMs),
    );
  };

  const upsert = (pod: V1Pod) => {
    const node = pod.spec?.nodeName;
    const uid = pod.metadata?.uid;
    if (!node || !uid || !index.has(node) || stopping.signal.aborted) return;
    if (pod.metadata?.deletionTimestamp) {
      clearTimeout(timers.get(uid));
      timers.delete(uid);
      void core
        .deleteNamespacedPod({
          name: pod.metadata.name!,
          namespace: pod.metadata.namespace ?? 'default',
          gracePeriodSeconds: 0,
          body: { gracePeriodSeconds: 0, preconditions: { uid } },
        })
        .catch((err: unknown) => {
          if (statusCode(err) !== 404 && statusCode(err) !== 409)
            logger.warn('fake pod deletion failed', { error: String(err) });
        });
      return;
    }
    const phase = pod.status?.phase;
    if (seen.has(uid) || phase === 'Succeeded' || phase === 'Failed' || phase === 'Running') return;
    seen.add(uid);
    timers.set(
      uid,
      setTimeout(() => {
        timers.delete(uid);
        advance(pod).catch((err: unknown) => {
          if (statusCode(err) !== 404)
            logger.warn('fake pod start failed', { pod: pod.metadata?.name, error: String(err) });
        });
      }, startDelayMs),
    );
  };
  const remove = (pod: V1Pod) => {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    clearTimeout(timers.get(uid));
    timers.delete(uid);
    seen.delete(uid);
  };
  await watchPods({ kubeConfig: options.kubeConfig, handlers: { upsert, remove }, signal: stopping.signal, logger });

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      stopping.abort();
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
    })());
  options.signal?.addEventListener('abort', () => void stop(), { once: true });
  if (options.signal?.aborted) await stop();
  return { names, stop };
}

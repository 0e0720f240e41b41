import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

import { silentLogger, type Logger } from '../../log.ts';
import { forceDelete, listContainers, podCgroupPath, removeCgroup, type CgroupDriver } from '../runc.ts';
import { tracerShim } from './image.ts';
import { watchPods } from './informer.ts';
import { PodLogError, type PodLogSource } from '../pod-logs.ts';
import { heartbeat, machineInfo, nodeLabels, nodeObject, registerNode } from './node.ts';
import { statusCode } from './api.ts';
import { recordPodEvent } from './events.ts';
import { PodWorker, type PodRuntimeContext } from './pod.ts';

const run = promisify(execFile);

export interface KubeletOptions {
  kubeConfig: KubeConfig;
  nodeName: string;
  /** This kubelet's own directory (pod volumes and logs, container bundles, runc state). */
  stateDir: string;
  /** The checkout whose `bin/tracejob.js` tracer-image pods run. */
  checkoutDir: string;
  signal?: AbortSignal;
  logger?: Logger;
  cgroupDriver?: CgroupDriver;
  /** The address pods and the node report; pods share the host network. */
  hostIP?: string;
  /** Bind pods nobody scheduled to this node, as the development cluster's stand-in scheduler (default true). */
  bindUnscheduled?: boolean;
}

export interface Kubelet {
  nodeName: string;
  logs: PodLogSource;
  /** Kills every container this kubelet started, removes their cgroups, stops watching. */
  stop(): Promise<void>;
}

/**
 * A kubelet for the development cluster, a client of the API server like the real one: registers its Node and
 * renews its Lease, watches pods with `spec.nodeName=<node>`, binds unscheduled pods through `pods/binding`, runs
 * them as runc containers and patches `pods/status`.
 */
export async function startKubelet(options: KubeletOptions): Promise<Kubelet> {
  const logger = (options.logger ?? silentLogger()).child({ component: 'kubelet', node: options.nodeName });
  const stateDir = resolve(options.stateDir);
  const checkoutDir = resolve(options.checkoutDir);
  const { kubeConfig, nodeName } = options;
  const hostIP = options.hostIP ?? '127.0.0.1';
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const coordination = kubeConfig.makeApiClient(CoordinationV1Api);
  const stopping = new AbortController();

  await mkdir(stateDir, { recursive: true });
  await cleanLeftovers(stateDir, options.cgroupDriver ?? 'cgroupfs', logger);
  const shimDir = join(stateDir, 'bin');
  await mkdir(shimDir, { recursive: true });
  await writeFile(join(shimDir, 'tracejob'), tracerShim(checkoutDir));
  await chmod(join(shimDir, 'tracejob'), 0o755);

  const info = await machineInfo(stateDir);
  await registerNode(core, nodeObject(nodeName, info, hostIP, new Date()));
  const labels = nodeLabels(nodeName, info.architecture);
  const beating = heartbeat({ core, coordination, nodeNames: () => [nodeName], signal: stopping.signal, logger });

  const context: PodRuntimeContext = {
    core,
    nodeName,
    hostIP,
    stateDir,
    checkoutDir,
    shimDir,
    cgroupDriver: options.cgroupDriver ?? 'cgroupfs',
    node: { cpu: info.cpus, memoryBytes: info.memoryBytes },
    logger,
  };
  const workers = new Map<string, PodWorker>();

  const upsert = (pod: V1Pod) => {
    const uid = pod.metadata?.uid;
    if (!uid || stopping.signal.aborted || pod.spec?.nodeName !== nodeName) return;
    const worker = workers.get(uid);
    if (worker) worker.update(pod);
    else workers.set(uid, new PodWorker(context, pod));
  };
  const remove = (pod: V1Pod) => {
    const uid = pod.metadata?.uid;
    const worker = uid ? workers.get(uid) : undefined;
    if (!worker || !uid) return;
    worker.removed();
    void worker.purge().finally(() => {
      if (workers.get(uid) === worker && !stopping.signal.aborted) workers.delete(uid);
    });
  };
  await watchPods({
    kubeConfig,
    fieldSelector: `spec.nodeName=${nodeName}`,
    handlers: { upsert, remove },
    signal: stopping.signal,
    logger,
  });

  if (options.bindUnscheduled ?? true) {
    const bind = async (pod: V1Pod) => {
      if (pod.spec?.nodeName || pod.metadata?.deletionTimestamp || stopping.signal.aborted) return;
      const scheduler = pod.spec?.schedulerName ?? 'default-scheduler';
      const selector = pod.spec?.nodeSelector ?? {};
      if (scheduler !== 'default-scheduler') return;
      if (!Object.entries(selector).every(([k, v]) => labels[k] === v)) return;
      const { name, namespace = 'default' } = pod.metadata ?? {};
      if (!name) return;
      try {
        await core.createNamespacedPodBinding({
          name,
          namespace,
          body: {
            apiVersion: 'v1',
            kind: 'Binding',
            metadata: { name, namespace, uid: pod.metadata?.uid },
            target: { apiVersion: 'v1', kind: 'Node', name: nodeName },
          },
        });
        logger.info('bound pod', { pod: `${namespace}/${name}` });
        recordPodEvent(core, nodeName, logger, pod, {
          type: 'Normal',
          reason: 'Scheduled',
          message: `Successfully assigned ${namespace}/${name} to ${nodeName}`,
          component: 'default-scheduler',
        });
      } catch (err) {
        if (statusCode(err) !== 409 && statusCode(err) !== 404) {
          logger.warn('could not bind pod', { pod: `${namespace}/${name}`, error: String(err) });
        }
      }
    };
    await watchPods({
      kubeConfig,
      fieldSelector: 'spec.nodeName=',
      handlers: { upsert: (pod) => void bind(pod), remove: () => undefined },
      signal: stopping.signal,
      logger,
    });
  }

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      stopping.abort();
      await Promise.all([...workers.values()].map((w) => w.shutdown()));
      await beating;
      workers.clear();
      logger.info('kubelet stopped');
    })());
  options.signal?.addEventListener('abort', () => void stop(), { once: true });
  if (options.signal?.aborted) await stop();

  return {
    nodeName,
    logs: {
      async open(pod, options, signal) {
        if ((pod.spec as { nodeName?: string } | undefined)?.nodeName !== nodeName) return undefined;
        const worker = workers.get(pod.metadata.uid);
        if (!worker) {
          throw new PodLogError(
            400,
            `container "${options.container}" in pod "${pod.metadata.name}" is waiting to start: ContainerCreating`,
          );
        }
        return worker.logs(options, signal);
      },
    },
    stop,
  };
}

/**
 * A kubelet killed without stopping leaves runc containers, their overlay mounts and pod cgroups. The next start on
 * the same state directory removes them before running anything.
 */
async function cleanLeftovers(stateDir: string, driver: CgroupDriver, logger: Logger): Promise<void> {
  const runcRoot = join(stateDir, 'runc');
  for (const id of await listContainers(runcRoot)) {
    logger.info('removing leftover container', { id });
    await forceDelete(runcRoot, id);
  }
  const bundles = join(stateDir, 'bundles');
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  const stale = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((mountPoint): mountPoint is string => Boolean(mountPoint?.startsWith(`${bundles}/`)))
    .sort((a, b) => b.length - a.length);
  for (const mountPoint of stale) await run('umount', ['--lazy', mountPoint]).catch(() => undefined);
  await rm(bundles, { recursive: true, force: true });
  const podsDir = join(stateDir, 'pods');
  for (const uid of await readdir(podsDir).catch(() => [] as string[])) {
    for (const qosClass of ['Guaranteed', 'Burstable', 'BestEffort'] as const) {
      await removeCgroup(podCgroupPath({ qosClass, podUID: uid, driver }), { removeEmptyAncestors: true }).catch(
        () => undefined,
      );
    }
  }
}
export { startFakeNodes, type FakeNodes, type FakeNodesOptions } from './fake-nodes.ts';

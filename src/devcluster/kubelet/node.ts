import type { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { readFile, statfs } from 'node:fs/promises';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import type { Logger } from '../../log.ts';
import { kubeTime, statusCode } from './api.ts';

const run = promisify(execFile);

export interface MachineInfo {
  cpus: number;
  memoryBytes: number;
  ephemeralStorageBytes: number;
  kernelVersion: string;
  osImage: string;
  architecture: string;
  machineID: string;
  bootID: string;
  runtimeVersion: string;
}

const goArch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' };

/** Facts about this machine for the Node object, read from the system. */
export async function machineInfo(stateDir: string): Promise<MachineInfo> {
  const osRelease = await readFile('/etc/os-release', 'utf8').catch(() => '');
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1] ?? 'Linux';
  const fs = await statfs(stateDir);
  const runcVersion = await run('runc', ['--version'])
    .then(({ stdout }) => /runc version (\S+)/.exec(stdout)?.[1] ?? 'unknown')
    .catch(() => 'unknown');
  return {
    cpus: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    ephemeralStorageBytes: fs.blocks * fs.bsize,
    kernelVersion: os.release(),
    osImage: pretty,
    architecture: goArch[process.arch] ?? process.arch,
    machineID: (await readFile('/etc/machine-id', 'utf8').catch(() => '')).trim(),
    bootID: (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim(),
    runtimeVersion: `runc://${runcVersion}`,
  };
}

export const kubeletVersion = 'v1.35.0';

export function nodeLabels(nodeName: string, architecture: string): Record<string, string> {
  return {
    'kubernetes.io/hostname': nodeName,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': architecture,
    'beta.kubernetes.io/os': 'linux',
    'beta.kubernetes.io/arch': architecture,
  };
}

export function readyConditions(now: Date, ready: boolean) {
  const heartbeat = kubeTime(now);
  const condition = (type: string, status: string, reason: string, message: string) => ({
    type,
    status,
    reason,
    message,
    lastHeartbeatTime: heartbeat,
    lastTransitionTime: heartbeat,
  });
  return [
    condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
    condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
    condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
    ready
      ? condition('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status')
      : condition('Ready', 'False', 'KubeletNotReady', 'kubelet is stopping'),
  ];
}

/** The Node object a kubelet registers for this machine. Pure: table-tested against a fixed MachineInfo. */
export function nodeObject(nodeName: string, info: MachineInfo, hostIP: string, now: Date) {
  const capacity = {
    cpu: String(info.cpus),
    memory: `${Math.floor(info.memoryBytes / 1024)}Ki`,
    'ephemeral-storage': `${Math.floor(info.ephemeralStorageBytes / 1024)}Ki`,
    pods: '110',
  };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: nodeName, labels: nodeLabels(nodeName, info.architecture) },
    spec: {},
    status: {
      capacity,
      allocatable: capacity,
      conditions: readyConditions(now, true),
      addresses: [
        { type: 'InternalIP', address: hostIP },
        { type: 'Hostname', address: nodeName },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: info.machineID,
        systemUUID: info.machineID,
        bootID: info.bootID,
        kernelVersion: info.kernelVersion,
        osImage: info.osImage,
        containerRuntimeVersion: info.runtimeVersion,
        kubeletVersion,
        kubeProxyVersion: '',
        operatingSystem: 'linux',
        architecture: info.architecture,
      },
    },
  };
}

type NodeBody = ReturnType<typeof nodeObject>;

/**
 * Creates the Node with its status (kube-apiserver keeps a Node's status on create), or takes over an existing one
 * by patching its labels and status, as kubelet registration does.
 */
export async function registerNode(core: CoreV1Api, node: NodeBody | FakeNodeBody): Promise<void> {
  const name = node.metadata.name;
  try {
    await core.createNode({ body: node as never });
    return;
  } catch (err) {
    if (statusCode(err) !== 409) throw err;
  }
  await core.patchNode(
    { name, body: { metadata: { labels: node.metadata.labels } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  await core.patchNodeStatus(
    { name, body: { status: node.status } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

export type FakeNodeBody = { metadata: { name: string; labels: Record<string, string> }; status: object };

/** MicroTime, the precision Lease times carry. */
function microTime(date: Date): string {
  return date.toISOString().replace(/Z$/, '000Z');
}

const leaseNamespace = 'kube-node-lease';
export const leaseDurationSeconds = 40;

/** Renews the node's Lease in kube-node-lease, creating the namespace and the Lease when missing. */
async function renewLease(coordination: CoordinationV1Api, core: CoreV1Api, nodeName: string): Promise<void> {
  const now = microTime(new Date());
  try {
    await coordination.patchNamespacedLease(
      { name: nodeName, namespace: leaseNamespace, body: { spec: { holderIdentity: nodeName, renewTime: now } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    return;
  } catch (err) {
    if (statusCode(err) !== 404) throw err;
  }
  await core
    .createNamespace({ body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: leaseNamespace } } })
    .catch((err: unknown) => {
      if (statusCode(err) !== 409) throw err;
    });
  await coordination
    .createNamespacedLease({
      namespace: leaseNamespace,
      body: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: nodeName, namespace: leaseNamespace },
        spec: {
          holderIdentity: nodeName,
          leaseDurationSeconds,
          renewTime: now as unknown as Date,
          acquireTime: now as unknown as Date,
        },
      },
    })
    .catch((err: unknown) => {
      if (statusCode(err) !== 409) throw err;
    });
}

/**
 * Heartbeats until the signal aborts: the Lease every 10 s, the Ready condition every 60 s (kubelet's defaults for
 * nodeLeaseRenewInterval and nodeStatusReportFrequency).
 */
export function heartbeat(options: {
  core: CoreV1Api;
  coordination: CoordinationV1Api;
  nodeNames: () => string[];
  signal: AbortSignal;
  logger: Logger;
}): Promise<void> {
  const { core, coordination, signal, logger } = options;
  let ticks = 0;
  const beat = async () => {
    for (const name of options.nodeNames()) {
      if (signal.aborted) return;
      try {
        await renewLease(coordination, core, name);
        if (ticks % 6 === 0) {
          await core.patchNodeStatus(
            { name, body: { status: { conditions: readyConditions(new Date(), true) } } },
            setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
          );
        }
      } catch (err) {
        logger.warn('node heartbeat failed', { node: name, error: String(err) });
      }
    }
    ticks++;
  };
  return (async () => {
    while (!signal.aborted) {
      await beat();
      await sleep(10_000, undefined, { signal }).catch(() => undefined);
    }
  })();
}

import { readFileSync } from 'node:fs';
import { cpus, hostname, release, totalmem } from 'node:os';
import type { JsonObject } from './patch.ts';

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return fallback;
  }
}

function osImage(): string {
  const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readOr('/etc/os-release', ''));
  return m?.[1] ?? 'Linux';
}

export function defaultNodeName(): string {
  const name = hostname()
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  return name || 'devcluster-node';
}

/** The Node object describing this machine: real CPU count, memory, kernel and architecture. */
export function localNode(name: string): JsonObject {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const capacity = {
    cpu: String(cpus().length),
    memory: `${Math.floor(totalmem() / 1024)}Ki`,
    pods: '110',
    'ephemeral-storage': '0',
  };
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const condition = (type: string, status: string, reason: string, message: string): JsonObject => ({
    type,
    status,
    reason,
    message,
    lastHeartbeatTime: now,
    lastTransitionTime: now,
  });
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': arch,
        'beta.kubernetes.io/os': 'linux',
        'beta.kubernetes.io/arch': arch,
        'tracejob.dev/devcluster-node': 'local',
      },
    },
    spec: {},
    status: {
      capacity,
      allocatable: capacity,
      conditions: [
        condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
        condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        condition('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
      ],
      addresses: [
        { type: 'InternalIP', address: '127.0.0.1' },
        { type: 'Hostname', address: name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: readOr('/etc/machine-id', ''),
        systemUUID: readOr('/sys/class/dmi/id/product_uuid', ''),
        bootID: readOr('/proc/sys/kernel/random/boot_id', ''),
        kernelVersion: release(),
        osImage: osImage(),
        containerRuntimeVersion: 'runc://tracejob-devcluster',
        kubeletVersion: 'v1.35.0',
        kubeProxyVersion: '',
        operatingSystem: 'linux',
        architecture: arch,
      },
    },
  };
}

import type { V1Container, V1Pod } from '@kubernetes/client-node';

import type { ContainerResources, QosClass } from '../runc.ts';

type ResourceName = 'cpu' | 'memory';

const suffixes: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A Kubernetes resource quantity (`100m`, `1.5Gi`, `1e3`) as a number, or undefined when it is not one. */
export function parseQuantity(quantity: string): number | undefined {
  const match = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([numkMGTPE]|[KMGTPE]i)|[eE]([+-]?\d+))?$/.exec(quantity.trim());
  if (!match) return undefined;
  const [, number, suffix, exponent] = match;
  return Number(number) * (exponent === undefined ? suffixes[suffix ?? ''] : 10 ** Number(exponent));
}

function quantityToScalar(quantity: string): number {
  const value = parseQuantity(quantity);
  if (value === undefined) throw new Error(`${JSON.stringify(quantity)} is not a quantity`);
  return value;
}

/** Requests default to limits, as API-server defaulting does for a container that only sets limits. */
function effective(container: V1Container, kind: 'requests' | 'limits', resource: ResourceName): string | undefined {
  const limits = container.resources?.limits?.[resource];
  const requests = container.resources?.requests?.[resource];
  return kind === 'limits' ? limits : (requests ?? limits);
}

function allContainers(pod: V1Pod): V1Container[] {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
}

/** The pod's QoS class by the rules of kubelet's `GetPodQOS`, over regular and init containers. */
export function qosClass(pod: V1Pod): QosClass {
  let any = false;
  let guaranteed = true;
  for (const container of allContainers(pod)) {
    for (const resource of ['cpu', 'memory'] as const) {
      const request = effective(container, 'requests', resource);
      const limit = effective(container, 'limits', resource);
      if (request !== undefined && !isZero(request)) any = true;
      if (limit !== undefined && !isZero(limit)) any = true;
      if (limit === undefined || request === undefined || !sameQuantity(request, limit)) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

function isZero(quantity: string): boolean {
  return quantityToScalar(quantity) === 0;
}

function sameQuantity(a: string, b: string): boolean {
  return milli(a) === milli(b);
}

/** Quantity × 1000, rounded up the way Kubernetes rounds milli-values. */
function milli(quantity: string): number {
  return Math.ceil(quantityToScalar(quantity) * 1000 - 1e-9);
}

function bytes(quantity: string): number {
  return Math.ceil(quantityToScalar(quantity));
}

const minShares = 2;
const sharesPerCpu = 1024;
const quotaPeriodMicros = 100_000;
const minQuotaMicros = 1000;

/** cgroup settings the kubelet derives from one container's requests and limits. */
export function containerResources(container: V1Container): ContainerResources {
  const cpuRequest = effective(container, 'requests', 'cpu');
  const cpuLimit = effective(container, 'limits', 'cpu');
  const memoryLimit = effective(container, 'limits', 'memory');
  return {
    cpuShares: Math.max(minShares, cpuRequest ? Math.floor((milli(cpuRequest) * sharesPerCpu) / 1000) : minShares),
    ...(cpuLimit
      ? { cpuQuotaMicros: Math.max(minQuotaMicros, Math.floor((milli(cpuLimit) * quotaPeriodMicros) / 1000)) }
      : {}),
    ...(memoryLimit ? { memoryLimitBytes: bytes(memoryLimit) } : {}),
  };
}

/** kubelet's oom_score_adj policy: Guaranteed −997, BestEffort 1000, Burstable by share of node memory requested. */
export function oomScoreAdj(qos: QosClass, container: V1Container, nodeMemoryBytes: number): number {
  if (qos === 'Guaranteed') return -997;
  if (qos === 'BestEffort') return 1000;
  const request = effective(container, 'requests', 'memory');
  const adj = 1000 - Math.floor((1000 * (request ? bytes(request) : 0)) / nodeMemoryBytes);
  return Math.min(999, Math.max(2, adj));
}

const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * What the kubelet checks before touching the host for a pod: names that become paths and quantities that become
 * cgroup limits. An API server validates these too; the kubelet does not rely on it. Each error names the field.
 */
export function podSpecErrors(pod: V1Pod): string[] {
  const errors: string[] = [];
  const seen = new Set<string>();
  for (const [kind, list] of [
    ['initContainers', pod.spec?.initContainers ?? []],
    ['containers', pod.spec?.containers ?? []],
  ] as const) {
    list.forEach((container, index) => {
      if (!dnsLabel.test(container.name ?? '')) {
        errors.push(`spec.${kind}[${index}].name: ${JSON.stringify(container.name)} must be a DNS-1123 label`);
      } else if (seen.has(container.name)) {
        errors.push(`spec.${kind}[${index}].name: ${JSON.stringify(container.name)} is used twice`);
      }
      seen.add(container.name);
      for (const section of ['requests', 'limits'] as const) {
        for (const [name, value] of Object.entries(container.resources?.[section] ?? {})) {
          const scalar = parseQuantity(String(value));
          if (scalar === undefined || scalar < 0) {
            errors.push(
              `spec.${kind}[${index}].resources.${section}.${name}: ${JSON.stringify(value)} is not a quantity (e.g. 100m, 1, 64Mi, 1G)`,
            );
          }
        }
      }
    });
  }
  if (!pod.spec?.containers?.length) errors.push('spec.containers: at least one container is required');
  (pod.spec?.volumes ?? []).forEach((volume, index) => {
    if (!dnsLabel.test(volume.name ?? '')) {
      errors.push(`spec.volumes[${index}].name: ${JSON.stringify(volume.name)} must be a DNS-1123 label`);
    }
  });
  return errors;
}

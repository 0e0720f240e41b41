import type { V1Container, V1ObjectFieldSelector, V1Pod, V1ResourceFieldSelector } from '@kubernetes/client-node';

import { parseQuantity } from './resources.ts';

/** A pod that cannot start until an object it references exists (the kubelet's CreateContainerConfigError). */
export class ContainerConfigError extends Error {
  override name = 'ContainerConfigError';
}

/** The ConfigMaps and Secrets a pod references, fetched beforehand; Secret values already base64-decoded. */
export interface PodObjects {
  configMaps: Map<string, Record<string, Buffer>>;
  secrets: Map<string, Record<string, Buffer>>;
}

export interface PodAddresses {
  hostIP: string;
  podIP: string;
}

/** Names of ConfigMaps and Secrets a pod's env, envFrom and volumes read, so they can be fetched in one go. */
export function referencedObjects(pod: V1Pod): { configMaps: Set<string>; secrets: Set<string> } {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  for (const container of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
    for (const env of container.env ?? []) {
      if (env.valueFrom?.configMapKeyRef?.name) configMaps.add(env.valueFrom.configMapKeyRef.name);
      if (env.valueFrom?.secretKeyRef?.name) secrets.add(env.valueFrom.secretKeyRef.name);
    }
    for (const from of container.envFrom ?? []) {
      if (from.configMapRef?.name) configMaps.add(from.configMapRef.name);
      if (from.secretRef?.name) secrets.add(from.secretRef.name);
    }
  }
  for (const volume of pod.spec?.volumes ?? []) {
    if (volume.configMap?.name) configMaps.add(volume.configMap.name);
    if (volume.secret?.secretName) secrets.add(volume.secret.secretName);
    for (const source of volume.projected?.sources ?? []) {
      if (source.configMap?.name) configMaps.add(source.configMap.name);
      if (source.secret?.name) secrets.add(source.secret.name);
    }
  }
  return { configMaps, secrets };
}

/**
 * Kubernetes' `$(VAR)` expansion: a defined variable is replaced, an undefined one is left as written, and `$$`
 * escapes a dollar sign.
 */
export function expand(input: string, vars: Record<string, string>): string {
  return input.replace(/\$\$|\$\(([^)]*)\)/g, (whole, name: string | undefined) => {
    if (whole === '$$') return '$';
    return name !== undefined && Object.hasOwn(vars, name) ? vars[name] : whole;
  });
}

/** The environment of one container, in the order and with the precedence the kubelet applies: envFrom, then env. */
export function containerEnv(
  pod: V1Pod,
  container: V1Container,
  objects: PodObjects,
  addresses: PodAddresses,
  node: { cpu: number; memoryBytes: number },
): Record<string, string> {
  const namespace = pod.metadata?.namespace ?? 'default';
  const vars: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    const ref = from.configMapRef ?? from.secretRef;
    if (!ref) continue;
    const kind = from.configMapRef ? 'configmap' : 'secret';
    const data = (from.configMapRef ? objects.configMaps : objects.secrets).get(ref.name ?? '');
    if (!data) {
      if (ref.optional) continue;
      throw new ContainerConfigError(`${kind} "${ref.name}" not found`);
    }
    for (const [key, value] of Object.entries(data)) vars[prefix + key] = value.toString('utf8');
  }
  for (const env of container.env ?? []) {
    if (env.valueFrom === undefined) {
      vars[env.name] = expand(env.value ?? '', vars);
      continue;
    }
    const { configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef } = env.valueFrom;
    if (configMapKeyRef || secretKeyRef) {
      const ref = (configMapKeyRef ?? secretKeyRef)!;
      const kind = configMapKeyRef ? 'ConfigMap' : 'Secret';
      const data = (configMapKeyRef ? objects.configMaps : objects.secrets).get(ref.name ?? '');
      if (!data) {
        if (ref.optional) continue;
        throw new ContainerConfigError(`${kind.toLowerCase()} "${ref.name}" not found`);
      }
      if (!Object.hasOwn(data, ref.key)) {
        if (ref.optional) continue;
        throw new ContainerConfigError(`couldn't find key ${ref.key} in ${kind} ${namespace}/${ref.name}`);
      }
      vars[env.name] = data[ref.key].toString('utf8');
    } else if (fieldRef) {
      vars[env.name] = fieldValue(pod, fieldRef, addresses);
    } else if (resourceFieldRef) {
      vars[env.name] = resourceValue(pod, container, resourceFieldRef, node);
    }
  }
  return vars;
}

export function fieldValue(pod: V1Pod, selector: V1ObjectFieldSelector, addresses: PodAddresses): string {
  const path = selector.fieldPath;
  const indexed = /^metadata\.(labels|annotations)\['([^']*)'\]$/.exec(path);
  if (indexed) return pod.metadata?.[indexed[1] as 'labels' | 'annotations']?.[indexed[2]] ?? '';
  switch (path) {
    case 'metadata.name':
      return pod.metadata?.name ?? '';
    case 'metadata.namespace':
      return pod.metadata?.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata?.uid ?? '';
    case 'metadata.labels':
      return formatMap(pod.metadata?.labels);
    case 'metadata.annotations':
      return formatMap(pod.metadata?.annotations);
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? 'default';
    case 'status.hostIP':
    case 'status.hostIPs':
      return addresses.hostIP;
    case 'status.podIP':
    case 'status.podIPs':
      return addresses.podIP;
    default:
      throw new ContainerConfigError(
        `env fieldRef.fieldPath ${JSON.stringify(path)} is not supported (metadata.name, metadata.namespace, ` +
          `metadata.uid, metadata.labels['k'], metadata.annotations['k'], spec.nodeName, spec.serviceAccountName, ` +
          `status.hostIP, status.podIP)`,
      );
  }
}

function formatMap(map: Record<string, string> | undefined): string {
  return Object.entries(map ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join('\n');
}

function resourceValue(
  pod: V1Pod,
  own: V1Container,
  selector: V1ResourceFieldSelector,
  node: { cpu: number; memoryBytes: number },
): string {
  const container = selector.containerName
    ? [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find(
        (c) => c.name === selector.containerName,
      )
    : own;
  const match = /^(limits|requests)\.(cpu|memory|ephemeral-storage)$/.exec(selector.resource);
  if (!container || !match) {
    throw new ContainerConfigError(`env resourceFieldRef ${JSON.stringify(selector.resource)} is not supported`);
  }
  const [, kind, resource] = match;
  const raw =
    container.resources?.[kind as 'limits' | 'requests']?.[resource] ??
    (kind === 'requests' ? container.resources?.limits?.[resource] : undefined);
  const fallback = resource === 'cpu' ? node.cpu : resource === 'memory' ? node.memoryBytes : 0;
  const value = raw === undefined ? (kind === 'limits' ? fallback : 0) : (parseQuantity(String(raw)) ?? 0);
  const divisor = parseQuantity(String(selector.divisor ?? '1')) || 1;
  return String(Math.ceil(value / divisor - 1e-9));
}

import { createHash } from 'node:crypto';

export const GROUP = 'tracejob.dev';
export const FINALIZER = 'tracejob.dev/cleanup';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'tracejob-operator';
/** A label value, so it must fit 63 characters: the TraceJob's UID does, its name may not. */
export const UID_LABEL = 'tracejob.dev/uid';
export const NAMESPACE_ANNOTATION = 'tracejob.dev/namespace';
export const NAME_ANNOTATION = 'tracejob.dev/name';
export const NODE_ANNOTATION = 'tracejob.dev/node';
/** The TraceJob generation the tracer pod was made from: a later spec change is reported, never applied. */
export const GENERATION_ANNOTATION = 'tracejob.dev/generation';
/** Selects every tracer pod this operator made, for the informer and the orphan sweep. */
export const TRACER_POD_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;

export function keyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/**
 * One tracer pod per (TraceJob, node), named so that a retried create after a crash finds the pod it made before
 * (AlreadyExists) instead of making a second one. The hash covers the UID, so a TraceJob deleted and re-created under
 * the same name never adopts the old one's pods. Kept within 63 characters, the hostname limit.
 */
export function tracerPodName(traceJobName: string, traceJobUid: string, node: string): string {
  const hash = createHash('sha256').update(`${traceJobUid}\0${node}`).digest('hex').slice(0, 10);
  const readable = traceJobName
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 63 - 'tj--'.length - hash.length)
    .replace(/-+$/, '');
  return readable ? `tj-${readable}-${hash}` : `tj-${hash}`;
}

/** The TraceJob key a tracer pod points back to, or undefined for a pod that is not ours. */
export function ownerKeyOfTracerPod(pod: {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
}): string | undefined {
  if (pod.metadata?.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY) return undefined;
  const namespace = pod.metadata.annotations?.[NAMESPACE_ANNOTATION];
  const name = pod.metadata.annotations?.[NAME_ANNOTATION];
  return namespace && name ? keyOf(namespace, name) : undefined;
}

/** The options that were actually given: `{ ...defaults, ...withoutUndefined(options) }` keeps a default. */
export function withoutUndefined<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as T;
}

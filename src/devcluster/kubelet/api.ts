/** Small helpers for talking to the API server the way Kubernetes components write objects. */

/** RFC 3339 with second precision, the form Kubernetes writes times in. */
export function kubeTime(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Plain JSON for the API: Dates become RFC 3339 seconds. */
export function toKubeJson(value: unknown): unknown {
  if (value instanceof Date) return kubeTime(value);
  if (Array.isArray(value)) return value.map(toKubeJson);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).flatMap(([k, v]) => (v === undefined ? [] : [[k, toKubeJson(v)]])));
  }
  return value;
}

export function statusCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown };
  return typeof e?.code === 'number' ? e.code : typeof e?.statusCode === 'number' ? e.statusCode : undefined;
}

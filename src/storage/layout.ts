import { KEY_SEGMENT, keyPrefix } from './config.ts';

/** The identity of one artifact; every field becomes exactly one segment of its object key. */
export interface ArtifactCoordinates {
  prefix?: string;
  namespace: string;
  traceJob: string;
  uid: string;
  node: string;
  artifact: string;
}

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;
const UID = /^[A-Za-z0-9][A-Za-z0-9-]{0,127}$/;

const rules: Record<Exclude<keyof ArtifactCoordinates, 'prefix'>, { pattern: RegExp; accepted: string }> = {
  namespace: { pattern: DNS_LABEL, accepted: 'a Kubernetes namespace name (DNS label)' },
  traceJob: { pattern: DNS_SUBDOMAIN, accepted: 'a Kubernetes object name (DNS subdomain)' },
  uid: { pattern: UID, accepted: 'a Kubernetes UID (letters, digits and "-")' },
  node: { pattern: DNS_SUBDOMAIN, accepted: 'a Kubernetes node name (DNS subdomain)' },
  artifact: {
    pattern: KEY_SEGMENT,
    accepted: 'a file name of letters, digits, ".", "_" and "-", not starting with "." and without "/"',
  },
};

export class ObjectKeyError extends Error {
  override name = 'ObjectKeyError';
}

function checkPrefix(prefix: string, field: string): string {
  const parsed = keyPrefix.safeParse(prefix);
  if (!parsed.success) throw new ObjectKeyError(`${field}: ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
  return prefix;
}

/**
 * `<prefix>/<namespace>/<tracejob>/<uid>/<node>/<artifact>`. Components are checked, never cleaned up: a name that
 * would need escaping is refused, so no two TraceJobs can ever map to the same key and no key can climb out of
 * its prefix.
 */
export function objectKey(coordinates: ArtifactCoordinates): string {
  const prefix = checkPrefix(coordinates.prefix ?? '', 'prefix');
  const segments = (['namespace', 'traceJob', 'uid', 'node', 'artifact'] as const).map((field) => {
    const value = coordinates[field];
    const rule = rules[field];
    if (typeof value !== 'string' || !rule.pattern.test(value) || value === '.' || value === '..') {
      throw new ObjectKeyError(`${field}: ${JSON.stringify(value)} is not ${rule.accepted}`);
    }
    return value;
  });
  return [prefix, ...segments].filter(Boolean).join('/');
}

/** The key prefix holding everything one TraceJob produced (ends in "/"), for `deletePrefix`. */
export function traceJobPrefix(coordinates: Omit<ArtifactCoordinates, 'node' | 'artifact'>): string {
  const key = objectKey({ ...coordinates, node: 'n', artifact: 'a' });
  return key.slice(0, -'n/a'.length);
}

/** Checks a key handed to a sink: relative, "/"-separated safe segments only. */
export function checkObjectKey(key: string, field = 'key'): string {
  if (key === '' || key.endsWith('/'))
    throw new ObjectKeyError(`${field}: must name an object, got ${JSON.stringify(key)}`);
  return checkPrefix(key, field);
}

/** Checks a prefix handed to `deletePrefix`: non-empty safe segments; the result always ends in "/". */
export function checkDeletePrefix(prefix: string): string {
  const trimmed = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  if (trimmed === '') throw new ObjectKeyError('prefix: refusing to delete an empty prefix (the whole store)');
  return `${checkPrefix(trimmed, 'prefix')}/`;
}

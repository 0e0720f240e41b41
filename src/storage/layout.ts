import { isSafeKeyPath, keyPrefix } from './config.ts';

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
const UID = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;

const rules: Record<Exclude<keyof ArtifactCoordinates, 'prefix'>, { pattern: RegExp; accepted: string }> = {
  namespace: { pattern: DNS_LABEL, accepted: 'a Kubernetes namespace name (DNS label)' },
  traceJob: { pattern: DNS_SUBDOMAIN, accepted: 'a Kubernetes object name (DNS subdomain)' },
  uid: { pattern: UID, accepted: 'a Kubernetes UID (letters, digits and "-")' },
  node: { pattern: DNS_SUBDOMAIN, accepted: 'a Kubernetes node name (DNS subdomain)' },
  // Shorter than other segments so that a ".gz" suffix still fits a file system's 255-byte names.
  artifact: {
    pattern: /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/,
    accepted: 'a file name of at most 200 letters, digits, ".", "_" and "-", not starting with "."',
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

/** S3's limit on key length, in bytes (keys here are ASCII). */
const MAX_KEY_LENGTH = 1024;

/** Checks a key handed to a sink: relative, "/"-separated safe segments only, within S3's length limit. */
export function checkObjectKey(key: string, field = 'key'): string {
  if (key.length > MAX_KEY_LENGTH) throw new ObjectKeyError(`${field}: must be at most ${MAX_KEY_LENGTH} characters`);
  if (!isSafeKeyPath(key)) {
    throw new ObjectKeyError(
      `${field}: ${JSON.stringify(key)} is not "/"-separated names of letters, digits, ".", "_" and "-" (no leading "/" or ".", no empty or ".." segments)`,
    );
  }
  return key;
}

/** Checks a prefix handed to `deletePrefix`: non-empty safe segments; the result always ends in "/". */
export function checkDeletePrefix(prefix: string): string {
  const trimmed = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  if (trimmed === '') throw new ObjectKeyError('prefix: refusing to delete an empty prefix (the whole store)');
  return `${checkObjectKey(trimmed, 'prefix')}/`;
}

import { isAbsolute, normalize } from 'node:path';
import { z } from 'zod';

/** SigV4 presigned URLs cannot outlive seven days; S3 rejects longer expiries. */
export const MAX_PRESIGN_EXPIRY_SECONDS = 7 * 24 * 60 * 60;
const DEFAULT_PRESIGN_EXPIRY_SECONDS = 24 * 60 * 60;

/** Keys the Secret named by `credentialsSecret` must hold; `sessionToken` is optional. */
export const CREDENTIAL_SECRET_KEYS = {
  accessKeyId: 'accessKeyId',
  secretAccessKey: 'secretAccessKey',
  sessionToken: 'sessionToken',
} as const;

/**
 * Env vars the tracer pod receives from that Secret (and the operator builds from it). They are the SDK's own names,
 * so a process given them through another route (a shell, a workload-identity webhook) behaves the same.
 */
export const CREDENTIAL_ENV = {
  accessKeyId: 'AWS_ACCESS_KEY_ID',
  secretAccessKey: 'AWS_SECRET_ACCESS_KEY',
  sessionToken: 'AWS_SESSION_TOKEN',
} as const;

const bucketName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
    error:
      'must be 3-63 characters of lowercase letters, digits, "." and "-", starting and ending with a letter or digit',
  })
  .refine((name) => !name.includes('..') && !/^\d+\.\d+\.\d+\.\d+$/.test(name), {
    error: 'must not contain ".." or be formatted as an IP address',
  });

/** One path segment of an object key: no separators, no "." or "..", nothing a shell or URL would reinterpret. */
const KEY_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$/;

/** True when `path` is "/"-separated safe segments (relative, no empty, "." or ".." segments). */
export function isSafeKeyPath(path: string): boolean {
  return path.split('/').every((segment) => KEY_SEGMENT.test(segment));
}

/**
 * At most 128 characters so that, with the longest names Kubernetes allows after it, a key stays within S3's
 * 1024-byte limit.
 */
export const keyPrefix = z
  .string()
  .max(128, { error: 'must be at most 128 characters' })
  .refine((prefix) => prefix === '' || isSafeKeyPath(prefix), {
    error:
      'must be "/"-separated segments of letters, digits, ".", "_" and "-" (no leading "/" or ".", no empty or ".." segments)',
  });

const httpUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL such as https://minio.example.com:9000' })
  .refine((url) => !new URL(url).username && !new URL(url).password, {
    error: 'must not carry credentials; name a Secret in credentialsSecret instead',
  });

const kubernetesName = z.string().regex(/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/, {
  error: 'must be a Kubernetes object name (lowercase letters, digits, "." and "-", at most 253 characters)',
});

/**
 * What happens to a TraceJob's objects when the TraceJob is deleted: the platform decides, never the author.
 * `Retain` (default) keeps them for the bucket's own lifecycle rules; `Delete` removes the TraceJob's prefix.
 */
const deletePolicy = z.enum(['Retain', 'Delete']).default('Retain');

export const S3SinkConfig = z
  .strictObject({
    type: z.literal('s3'),
    /** Absent for AWS S3 itself; set for MinIO, Ceph RGW, R2, GCS interoperability... */
    endpoint: httpUrl.optional(),
    /** Used instead of `endpoint` in presigned URLs, for stores users reach under another name than the operator. */
    publicEndpoint: httpUrl.optional(),
    region: z
      .string()
      .regex(/^[a-z0-9-]{1,64}$/, { error: 'must be a region name such as us-east-1 (use "auto" for R2)' }),
    bucket: bucketName,
    prefix: keyPrefix.default(''),
    forcePathStyle: z.boolean().default(false),
    serverSideEncryption: z.enum(['AES256', 'aws:kms', 'aws:kms:dsse']).optional(),
    kmsKeyId: z.string().min(1).max(2048).optional(),
    credentialsSecret: kubernetesName.optional(),
    presignExpirySeconds: z
      .int({ error: 'must be a whole number of seconds' })
      .min(60, { error: 'must be at least 60 seconds' })
      .max(MAX_PRESIGN_EXPIRY_SECONDS, { error: `must be at most ${MAX_PRESIGN_EXPIRY_SECONDS} seconds (7 days)` })
      .default(DEFAULT_PRESIGN_EXPIRY_SECONDS),
    deletePolicy,
  })
  .superRefine((config, ctx) => {
    if (config.kmsKeyId !== undefined && !config.serverSideEncryption?.startsWith('aws:kms')) {
      ctx.addIssue({
        code: 'custom',
        path: ['kmsKeyId'],
        message: 'is only accepted with serverSideEncryption "aws:kms" or "aws:kms:dsse"',
      });
    }
    if (config.publicEndpoint !== undefined && config.endpoint === undefined) {
      ctx.addIssue({ code: 'custom', path: ['publicEndpoint'], message: 'is only accepted together with endpoint' });
    }
  });

const withoutTrailingSlash = (path: string) => path.replace(/(.)\/$/, '$1');

export const LocalSinkConfig = z.strictObject({
  type: z.literal('local'),
  directory: z
    .string()
    .refine((dir) => isAbsolute(dir) && withoutTrailingSlash(normalize(dir)) === withoutTrailingSlash(dir), {
      error: 'must be an absolute, normalized directory path such as /var/lib/tracejob/results',
    }),
  deletePolicy,
});

export const SinkConfig = z.discriminatedUnion('type', [S3SinkConfig, LocalSinkConfig], {
  error: 'type must be "s3" or "local"',
});

export type S3SinkConfig = z.output<typeof S3SinkConfig>;
export type LocalSinkConfig = z.output<typeof LocalSinkConfig>;
export type SinkConfig = z.output<typeof SinkConfig>;

const profileName = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, {
  error: 'must be a DNS label (lowercase letters, digits and "-", at most 63 characters)',
});

/** Named sinks from the chart values / operator configuration; a TraceJob picks one by `spec.storage`. */
export const StorageProfiles = z
  .strictObject({
    default: profileName,
    profiles: z.record(profileName, SinkConfig),
  })
  .superRefine((value, ctx) => {
    if (!(value.default in value.profiles)) {
      ctx.addIssue({
        code: 'custom',
        path: ['default'],
        message: `names no profile; configured profiles: ${Object.keys(value.profiles).join(', ') || '(none)'}`,
      });
    }
  });

export type StorageProfiles = z.output<typeof StorageProfiles>;

export class StorageConfigError extends Error {
  override name = 'StorageConfigError';
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super(issues.join('; '));
    this.issues = issues;
  }
}

function describeIssues(error: z.ZodError, root: string): string[] {
  return error.issues.map((issue) => {
    const path = [root, ...issue.path.map(String)].filter(Boolean).join('.');
    return `${path}: ${issue.message}`;
  });
}

/** Parses a sink; `field` names where it came from (e.g. "storage.profiles.archive") in the error. */
export function parseSinkConfig(input: unknown, field = 'storage'): SinkConfig {
  const result = SinkConfig.safeParse(input);
  if (!result.success) throw new StorageConfigError(describeIssues(result.error, field));
  return result.data;
}

export function parseStorageProfiles(input: unknown, field = 'storage'): StorageProfiles {
  const result = StorageProfiles.safeParse(input);
  if (!result.success) throw new StorageConfigError(describeIssues(result.error, field));
  return result.data;
}

/**
 * The sink a TraceJob's `spec.storage` selects: the default profile when it names none. An unknown name is the
 * author's error, so the message lists what they may pick.
 */
export function selectProfile(
  profiles: StorageProfiles,
  requested: string | undefined,
): { name: string; config: SinkConfig } {
  const name = requested ?? profiles.default;
  const config = profiles.profiles[name];
  if (config === undefined) {
    throw new StorageConfigError([
      `spec.storage: no storage profile named "${name}"; available: ${Object.keys(profiles.profiles).sort().join(', ')}`,
    ]);
  }
  return { name, config };
}

/**
 * Env entries for a tracer pod's container that carry the Secret's credentials. Empty when the sink relies on the
 * SDK's default chain (workload identity, instance profile).
 */
export function credentialEnvVars(
  config: SinkConfig,
): { name: string; valueFrom: { secretKeyRef: { name: string; key: string; optional?: boolean } } }[] {
  if (config.type !== 's3' || config.credentialsSecret === undefined) return [];
  const secret = config.credentialsSecret;
  return [
    {
      name: CREDENTIAL_ENV.accessKeyId,
      valueFrom: { secretKeyRef: { name: secret, key: CREDENTIAL_SECRET_KEYS.accessKeyId } },
    },
    {
      name: CREDENTIAL_ENV.secretAccessKey,
      valueFrom: { secretKeyRef: { name: secret, key: CREDENTIAL_SECRET_KEYS.secretAccessKey } },
    },
    {
      name: CREDENTIAL_ENV.sessionToken,
      valueFrom: { secretKeyRef: { name: secret, key: CREDENTIAL_SECRET_KEYS.sessionToken, optional: true } },
    },
  ];
}

/** The env a sink expects, built from a Secret's decoded `data` (for the operator, which reads the Secret itself). */
export function credentialEnvFromSecretData(
  data: Record<string, string | undefined>,
): Record<string, string | undefined> {
  return {
    [CREDENTIAL_ENV.accessKeyId]: data[CREDENTIAL_SECRET_KEYS.accessKeyId],
    [CREDENTIAL_ENV.secretAccessKey]: data[CREDENTIAL_SECRET_KEYS.secretAccessKey],
    [CREDENTIAL_ENV.sessionToken]: data[CREDENTIAL_SECRET_KEYS.sessionToken],
  };
}

import type { Readable } from 'node:stream';
import { silentLogger, type Logger } from '../log.ts';
import { parseSinkConfig, type SinkConfig } from './config.ts';
import { LocalSink } from './local.ts';
import type { RetryPolicy } from './retry.ts';
import { S3Sink } from './s3.ts';

export * from './config.ts';
export { objectKey, traceJobPrefix, ObjectKeyError, type ArtifactCoordinates } from './layout.ts';
export { StorageError, type StorageErrorCode } from './errors.ts';
export { contentTypeFor } from './content.ts';
export { type RetryPolicy } from './retry.ts';
export { REFRESH_URLS_ANNOTATION, linkArtifacts, type LinkedArtifact } from './urls.ts';

/** One artifact to store. Exactly one of `filePath` / `stream`; a file can be re-read, so only files are retried. */
export interface PutRequest {
  /** Object key, normally from `objectKey()`. */
  key: string;
  filePath?: string;
  stream?: Readable;
  /** Defaults to the type implied by the key's extension (`contentTypeFor`). */
  contentType?: string;
  /**
   * Compress before storing. Defaults to true for text types of at least 256 KiB given by `filePath`. S3 keeps the key and sets
   * `Content-Encoding: gzip`; the local sink appends ".gz" to the file name.
   */
  gzip?: boolean;
}

/** Where an artifact went; `sizeBytes` and `sha256` are of the bytes as stored (after any gzip). */
export interface StoredArtifact {
  uri: string;
  sizeBytes: number;
  sha256: string;
  contentType: string;
  contentEncoding?: 'gzip';
}

export interface PresignedUrl {
  url: string;
  expiresAt: Date;
}

export interface VerifyResult {
  matches: boolean;
  sizeBytes: number;
  sha256: string;
}

export interface ArtifactSink {
  readonly type: 's3' | 'local';
  /** Stores one artifact, retrying what is retryable; throws `StorageError` when it could not be stored. */
  put(request: PutRequest, signal?: AbortSignal): Promise<StoredArtifact>;
  /** An HTTPS link to the object, for `status.artifacts[].url`; undefined for sinks with nothing to sign (local). */
  presign(uri: string, expiresSeconds?: number): Promise<PresignedUrl | undefined>;
  /** Deletes every object under a key prefix (as from `traceJobPrefix`); returns how many were deleted. */
  deletePrefix(prefix: string, signal?: AbortSignal): Promise<number>;
  /** Reads the stored object back and compares its SHA-256. Throws `StorageError` `NotFound` when it is missing. */
  verify(uri: string, sha256: string, signal?: AbortSignal): Promise<VerifyResult>;
}

export interface SinkOptions {
  /** Where credentials come from (AWS_ACCESS_KEY_ID...); defaults to process.env. */
  env?: Record<string, string | undefined>;
  logger?: Logger;
  /** Overrides for tests and benchmarks; production uses the defaults. */
  retry?: Partial<RetryPolicy>;
  partSizeBytes?: number;
  idleTimeoutMs?: number;
}

/**
 * The sink a storage profile describes. `config` may be raw input (it is validated) or an already-parsed SinkConfig.
 * Credential problems surface as StorageError `CredentialsAbsent` from the first operation, like any other failure.
 */
export function createSink(config: SinkConfig | unknown, options: SinkOptions = {}): ArtifactSink {
  const parsed = parseSinkConfig(config);
  const logger = options.logger ?? silentLogger();
  if (parsed.type === 'local') return new LocalSink(parsed, { logger });
  return new S3Sink(parsed, {
    env: options.env ?? process.env,
    logger,
    retry: options.retry,
    partSizeBytes: options.partSizeBytes,
    idleTimeoutMs: options.idleTimeoutMs,
  });
}

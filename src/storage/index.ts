import type { Readable } from 'node:stream';
import type { Logger } from '../log.ts';

export * from './config.ts';
export { objectKey, traceJobPrefix, ObjectKeyError, type ArtifactCoordinates } from './layout.ts';
export { StorageError, type StorageErrorCode } from './errors.ts';

/** One artifact to store. Exactly one of `filePath` / `stream`; a file can be re-read, so only files are retried. */
export interface PutRequest {
  /** Object key, normally from `objectKey()`. */
  key: string;
  filePath?: string;
  stream?: Readable;
  /** Defaults to the type implied by the key's extension (`contentTypeFor`). */
  contentType?: string;
  /**
   * Compress before storing. Defaults to true for text types over 1 MiB given by `filePath`. S3 keeps the key and sets
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
}

import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  S3ServiceException,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { Logger } from '../log.ts';
import { CREDENTIAL_ENV, CREDENTIAL_SECRET_KEYS, MAX_PRESIGN_EXPIRY_SECONDS, type S3SinkConfig } from './config.ts';
import { Digest, contentTypeFor, gzipByDefault } from './content.ts';
import { StorageError, isAbortError } from './errors.ts';
import { checkDeletePrefix, checkObjectKey } from './layout.ts';
import { openSource } from './source.ts';
import { DEFAULT_RETRY, withRetry, type RetryPolicy } from './retry.ts';
import type { ArtifactSink, PresignedUrl, PutRequest, StoredArtifact, VerifyResult } from './index.ts';

export interface S3SinkOptions {
  env: Record<string, string | undefined>;
  logger: Logger;
  retry?: Partial<RetryPolicy>;
  /** Multipart part size; S3 requires at least 5 MiB. */
  partSizeBytes?: number;
  /** A request whose socket sees no traffic this long is abandoned (and retried): stalled servers must not hang a pod. */
  idleTimeoutMs?: number;
}

const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

const ACCESS_DENIED = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AllAccessDisabled',
  'InvalidToken',
  'ExpiredToken',
  'AccountProblem',
  'Forbidden',
]);
const TRANSIENT = new Set([
  'InternalError',
  'ServiceUnavailable',
  'SlowDown',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'TimeoutError',
  'OperationAborted',
  'ThrottlingException',
]);
const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/**
 * Artifacts in an S3-compatible bucket. Uploads stream through lib-storage (multipart above one part, never the whole
 * file in memory) while a SHA-256 is computed over the bytes sent; a failed multipart upload is aborted so no parts
 * are left behind, and the stored length is checked before the artifact is reported stored.
 */
export class S3Sink implements ArtifactSink {
  readonly type = 's3';
  readonly #config: S3SinkConfig;
  readonly #logger: Logger;
  readonly #retry: RetryPolicy;
  readonly #partSize: number;
  readonly #client: S3Client;
  readonly #presignClient: S3Client;
  readonly #credentialError: StorageError | undefined;
  readonly #secrets: string[];
  readonly #where: string;

  constructor(config: S3SinkConfig, options: S3SinkOptions) {
    this.#config = config;
    this.#logger = options.logger;
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
    this.#partSize = options.partSizeBytes ?? DEFAULT_PART_SIZE;
    this.#where = `bucket "${config.bucket}"${config.endpoint ? ` at ${config.endpoint}` : ` in ${config.region}`}`;
    const accessKeyId = options.env[CREDENTIAL_ENV.accessKeyId];
    const secretAccessKey = options.env[CREDENTIAL_ENV.secretAccessKey];
    const sessionToken = options.env[CREDENTIAL_ENV.sessionToken] || undefined;
    this.#secrets = [accessKeyId, secretAccessKey, sessionToken].filter((s): s is string => !!s && s.length >= 4);
    const haveKeys = !!accessKeyId && !!secretAccessKey;
    if (config.credentialsSecret !== undefined && !haveKeys) {
      const absent = [
        !accessKeyId && `${CREDENTIAL_ENV.accessKeyId} (Secret key "${CREDENTIAL_SECRET_KEYS.accessKeyId}")`,
        !secretAccessKey &&
          `${CREDENTIAL_ENV.secretAccessKey} (Secret key "${CREDENTIAL_SECRET_KEYS.secretAccessKey}")`,
      ].filter(Boolean);
      this.#credentialError = new StorageError(
        'CredentialsAbsent',
        `storage credentials are absent: ${absent.join(' and ')} not set; the Secret "${config.credentialsSecret}" in the ` +
          `tracer namespace must hold non-empty keys "${CREDENTIAL_SECRET_KEYS.accessKeyId}" and "${CREDENTIAL_SECRET_KEYS.secretAccessKey}"`,
      );
    }
    const clientConfig: S3ClientConfig = {
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      maxAttempts: 3,
      requestHandler: { connectionTimeout: 5_000, socketTimeout: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS },
      ...(haveKeys ? { credentials: { accessKeyId, secretAccessKey, sessionToken } } : {}),
      // Several S3-compatible stores mishandle the SDK's default aws-chunked checksum framing and store it as data.
      ...(config.endpoint !== undefined
        ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }
        : {}),
    };
    this.#client = new S3Client({ ...clientConfig, ...(config.endpoint ? { endpoint: config.endpoint } : {}) });
    this.#presignClient = config.publicEndpoint
      ? new S3Client({ ...clientConfig, endpoint: config.publicEndpoint })
      : this.#client;
  }

  async put(request: PutRequest, signal?: AbortSignal): Promise<StoredArtifact> {
    const key = this.#validKey(request.key, 'key');
    this.#requireCredentials();
    const contentType = request.contentType ?? contentTypeFor(key);
    const policy = request.stream === undefined ? this.#retry : { ...this.#retry, attempts: 1 };
    const what = `storing s3://${this.#config.bucket}/${key}`;
    let stored: StoredArtifact;
    try {
      stored = await withRetry((attempt) => this.#uploadOnce(request, key, contentType, attempt, signal), {
        policy,
        classify: (error) => this.#classify(error, what),
        signal,
        logger: this.#logger,
        what,
      });
    } catch (error) {
      if (error instanceof StorageError && error.retryable && request.stream !== undefined) {
        throw new StorageError(error.code, `${error.message} (not retried: a stream cannot be read twice)`, {
          cause: error,
        });
      }
      throw error;
    }
    this.#logger.debug('stored artifact', { uri: stored.uri, sizeBytes: stored.sizeBytes });
    return stored;
  }

  async #uploadOnce(
    request: PutRequest,
    key: string,
    contentType: string,
    attempt: number,
    signal: AbortSignal | undefined,
  ): Promise<StoredArtifact> {
    const source = await openSource(request);
    const gzip = request.gzip ?? gzipByDefault(contentType, source.sizeBytes);
    const digest = new Digest();
    const gzipper = gzip ? createGzip() : undefined;
    source.watch([...(gzipper ? [gzipper] : []), digest]);
    const feeding = gzipper ? pipeline(source.stream, gzipper, digest) : pipeline(source.stream, digest);
    feeding.catch(() => undefined);
    const upload = new Upload({
      client: this.#client,
      params: {
        Bucket: this.#config.bucket,
        Key: key,
        Body: digest,
        ContentType: contentType,
        ...(gzip ? { ContentEncoding: 'gzip' } : {}),
        ...(this.#config.serverSideEncryption ? { ServerSideEncryption: this.#config.serverSideEncryption } : {}),
        ...(this.#config.kmsKeyId ? { SSEKMSKeyId: this.#config.kmsKeyId } : {}),
      },
      partSize: this.#partSize,
      queueSize: 2,
      leavePartsOnError: false,
    });
    const cancel = () => void upload.abort();
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      await upload.done();
      await feeding;
    } catch (error) {
      source.stream.destroy();
      digest.destroy();
      if (upload.uploadId !== undefined) await this.#abandonMultipart(key, upload.uploadId);
      throw source.failure() ?? error;
    } finally {
      signal?.removeEventListener('abort', cancel);
    }
    const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.#config.bucket, Key: key }), {
      abortSignal: signal,
    });
    if (head.ContentLength !== digest.sizeBytes) {
      throw new StorageError(
        'Incomplete',
        `s3://${this.#config.bucket}/${key} holds ${head.ContentLength} bytes after upload attempt ${attempt}, expected ${digest.sizeBytes}`,
      );
    }
    return {
      uri: `s3://${this.#config.bucket}/${key}`,
      sizeBytes: digest.sizeBytes,
      sha256: digest.sha256(),
      contentType,
      ...(gzip ? { contentEncoding: 'gzip' as const } : {}),
    };
  }

  /**
   * lib-storage aborts a failed multipart upload once and gives up if that request fails too (the server being down
   * is a common reason for the failure). Parts left behind are billed and invisible, so try harder; "NoSuchUpload"
   * means an earlier abort already succeeded.
   */
  async #abandonMultipart(key: string, uploadId: string): Promise<void> {
    try {
      await withRetry(
        async () => {
          try {
            await this.#client.send(
              new AbortMultipartUploadCommand({ Bucket: this.#config.bucket, Key: key, UploadId: uploadId }),
            );
          } catch (error) {
            if (errorName(error) !== 'NoSuchUpload') throw error;
          }
        },
        {
          policy: { ...this.#retry, attempts: Math.max(3, this.#retry.attempts) },
          classify: (error) => this.#classify(error, `aborting multipart upload of ${key}`),
          logger: this.#logger,
          what: `aborting multipart upload of s3://${this.#config.bucket}/${key}`,
        },
      );
    } catch (error) {
      this.#logger.error('could not abort a multipart upload; its parts stay until a lifecycle rule removes them', {
        bucket: this.#config.bucket,
        key,
        uploadId,
        error: (error as Error).message,
      });
    }
  }

  async presign(uri: string, expiresSeconds = this.#config.presignExpirySeconds): Promise<PresignedUrl> {
    if (!Number.isInteger(expiresSeconds) || expiresSeconds < 1 || expiresSeconds > MAX_PRESIGN_EXPIRY_SECONDS) {
      throw new StorageError(
        'InvalidRequest',
        `expiresSeconds: ${expiresSeconds} is not a whole number of seconds between 1 and ${MAX_PRESIGN_EXPIRY_SECONDS} (7 days)`,
      );
    }
    const key = this.#keyOf(uri);
    this.#requireCredentials();
    const issuedAt = Date.now();
    try {
      const url = await getSignedUrl(
        this.#presignClient,
        new GetObjectCommand({ Bucket: this.#config.bucket, Key: key }),
        { expiresIn: expiresSeconds },
      );
      return { url, expiresAt: new Date(issuedAt + expiresSeconds * 1000) };
    } catch (error) {
      throw this.#classify(error, `signing a URL for ${uri}`);
    }
  }

  async deletePrefix(prefix: string, signal?: AbortSignal): Promise<number> {
    let checked: string;
    try {
      checked = checkDeletePrefix(prefix);
    } catch (error) {
      throw new StorageError('InvalidRequest', (error as Error).message, { cause: error });
    }
    if (this.#config.prefix !== '' && !checked.startsWith(`${this.#config.prefix}/`)) {
      throw new StorageError(
        'InvalidRequest',
        `prefix: ${prefix} is outside this sink's prefix ${this.#config.prefix}/`,
      );
    }
    this.#requireCredentials();
    const what = `deleting s3://${this.#config.bucket}/${checked}`;
    const retrying = <T>(operation: () => Promise<T>) =>
      withRetry(operation, {
        policy: this.#retry,
        classify: (error) => this.#classify(error, what),
        signal,
        logger: this.#logger,
        what,
      });
    let deleted = 0;
    let continuationToken: string | undefined;
    do {
      const page = await retrying(() =>
        this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.#config.bucket,
            Prefix: checked,
            ContinuationToken: continuationToken,
          }),
          { abortSignal: signal },
        ),
      );
      const keys = (page.Contents ?? []).flatMap((object) => (object.Key ? [{ Key: object.Key }] : []));
      if (keys.length > 0) {
        const result = await retrying(() =>
          this.#client.send(
            new DeleteObjectsCommand({ Bucket: this.#config.bucket, Delete: { Objects: keys, Quiet: true } }),
            { abortSignal: signal },
          ),
        );
        const failed = result.Errors ?? [];
        if (failed.length > 0) {
          throw this.#classify(
            Object.assign(new Error(`${failed[0]!.Key}: ${failed[0]!.Message}`), { name: failed[0]!.Code }),
            `${what} (${failed.length} of ${keys.length} objects not deleted)`,
          );
        }
        deleted += keys.length;
      }
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken !== undefined);
    await this.#abortUploadsUnder(checked, retrying, signal);
    return deleted;
  }

  /** Uploads a tracer pod left unfinished (killed mid-upload) hold parts under the prefix that listing cannot see. */
  async #abortUploadsUnder(
    prefix: string,
    retrying: <T>(operation: () => Promise<T>) => Promise<T>,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await retrying(async () => {
        try {
          return await this.#client.send(
            new ListMultipartUploadsCommand({
              Bucket: this.#config.bucket,
              Prefix: prefix,
              KeyMarker: keyMarker,
              UploadIdMarker: uploadIdMarker,
            }),
            { abortSignal: signal },
          );
        } catch (error) {
          // Some S3-compatible stores do not list uploads; their own expiry of stale uploads is all there is.
          if (errorName(error) === 'NotImplemented') return undefined;
          throw error;
        }
      });
      for (const upload of page?.Uploads ?? []) {
        if (upload.Key && upload.UploadId) await this.#abandonMultipart(upload.Key, upload.UploadId);
      }
      if (!page?.IsTruncated) return;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  async verify(uri: string, sha256: string, signal?: AbortSignal): Promise<VerifyResult> {
    const key = this.#keyOf(uri);
    this.#requireCredentials();
    return withRetry(
      async () => {
        const object = await this.#client.send(new GetObjectCommand({ Bucket: this.#config.bucket, Key: key }), {
          abortSignal: signal,
        });
        const digest = new Digest();
        await pipeline(
          object.Body as Readable,
          digest,
          async (chunks: AsyncIterable<Buffer>) => {
            for await (const _ of chunks);
          },
          { signal },
        );
        const actual = digest.sha256();
        return { matches: actual === sha256, sizeBytes: digest.sizeBytes, sha256: actual };
      },
      {
        policy: this.#retry,
        classify: (error) => this.#classify(error, `reading ${uri}`),
        signal,
        logger: this.#logger,
        what: `verifying ${uri}`,
      },
    );
  }

  #requireCredentials(): void {
    if (this.#credentialError) throw this.#credentialError;
  }

  #validKey(key: string, field: string): string {
    try {
      return checkObjectKey(key, field);
    } catch (error) {
      throw new StorageError('InvalidRequest', (error as Error).message, { cause: error });
    }
  }

  #keyOf(uri: string): string {
    const expected = `s3://${this.#config.bucket}/`;
    if (!uri.startsWith(expected)) {
      throw new StorageError('InvalidRequest', `uri: ${JSON.stringify(uri)} is not an object in ${expected}`);
    }
    return this.#validKey(uri.slice(expected.length), 'uri');
  }

  /** Sorts SDK and network failures into retryable and terminal, with a message that says what to fix. */
  #classify(error: unknown, what: string): StorageError {
    if (error instanceof StorageError) return error;
    const name = errorName(error);
    const status = error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    const detail = this.#redact(error instanceof Error ? error.message || name : String(error));
    const make = (kind: StorageError['code'], message: string) =>
      new StorageError(kind, `${what}: ${message}`, { cause: error });
    if (isAbortError(error)) return make('Aborted', 'cancelled');
    if (name === 'CredentialsProviderError' || /could not load credentials/i.test(detail)) {
      return make(
        'CredentialsAbsent',
        `no storage credentials: set credentialsSecret on the storage profile or give the operator and tracer pods a workload identity (${detail})`,
      );
    }
    if (name === 'NoSuchBucket') {
      return make('BucketMissing', `${this.#where} does not exist; create it or correct the storage profile's bucket`);
    }
    if (ACCESS_DENIED.has(name) || status === 403) {
      return make(
        'AccessDenied',
        `access denied to ${this.#where} (${name}: ${detail}); check the credentials and the bucket policy`,
      );
    }
    if (name === 'NoSuchKey' || (status === 404 && name === 'NotFound'))
      return make('NotFound', 'the object does not exist');
    if (TRANSIENT.has(name) || (status !== undefined && (status >= 500 || status === 429))) {
      return make('Unavailable', `${this.#where} answered ${status ?? ''} ${name}: ${detail}`.replace('  ', ' '));
    }
    if ((code !== undefined && NETWORK.has(code)) || NETWORK.has(name)) {
      return make('Unavailable', `cannot reach ${this.#where}: ${detail}`);
    }
    if (status !== undefined && status >= 400) {
      return make('InvalidRequest', `${this.#where} refused the request (${status} ${name}: ${detail})`);
    }
    return make('Unavailable', detail);
  }

  #redact(text: string): string {
    return this.#secrets.reduce((result, secret) => result.split(secret).join('[redacted]'), text);
  }
}

function errorName(error: unknown): string {
  if (error instanceof Error) return error.name;
  return typeof error === 'object' && error !== null && 'name' in error ? String(error.name) : 'Error';
}

/**
 * Why a storage operation failed. The runner copies `code` and `message` into the result manifest (reason
 * `UploadFailed`), so each message says what happened and what would fix it, without credentials.
 */
export type StorageErrorCode =
  | 'CredentialsAbsent'
  | 'AccessDenied'
  | 'BucketMissing'
  | 'NotFound'
  | 'Unavailable'
  | 'Incomplete'
  | 'DiskFull'
  | 'SourceUnreadable'
  | 'InvalidRequest'
  | 'Aborted';

const RETRYABLE: ReadonlySet<StorageErrorCode> = new Set(['Unavailable', 'Incomplete']);

export class StorageError extends Error {
  override name = 'StorageError';
  readonly code: StorageErrorCode;
  /** True when the same request may succeed later unchanged (network, 5xx, throttling, truncated transfer). */
  readonly retryable: boolean;
  constructor(code: StorageErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = RETRYABLE.has(code);
  }
}

export function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || (error as { code?: string }).code === 'ABORT_ERR');
}

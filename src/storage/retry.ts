import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.ts';
import { StorageError, isAbortError } from './errors.ts';

export interface RetryPolicy {
  /** Total tries, including the first. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 500, maxDelayMs: 15_000 };

/** "Full jitter" backoff: a uniform delay up to an exponentially growing cap, so retrying pods do not synchronize. */
export function backoffDelay(policy: RetryPolicy, failedAttempts: number, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (failedAttempts - 1));
  return Math.floor(random() * cap);
}

/**
 * Runs `operation` until it succeeds, fails terminally, or the attempts run out. `classify` turns any failure into a
 * StorageError; the last one is thrown with the number of attempts in its message.
 */
export async function withRetry<T>(
  operation: (attempt: number) => Promise<T>,
  options: {
    policy: RetryPolicy;
    classify: (error: unknown) => StorageError;
    signal?: AbortSignal;
    logger: Logger;
    what: string;
  },
): Promise<T> {
  const { policy, classify, signal, logger, what } = options;
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw new StorageError('Aborted', `${what}: cancelled`, { cause: signal.reason });
    try {
      return await operation(attempt);
    } catch (raw) {
      const error =
        signal?.aborted || isAbortError(raw) ? new StorageError('Aborted', `${what}: cancelled`) : classify(raw);
      if (!error.retryable || attempt >= policy.attempts) {
        if (attempt > 1) {
          throw new StorageError(error.code, `${error.message} (gave up after ${attempt} attempts)`, { cause: raw });
        }
        throw error;
      }
      const delayMs = backoffDelay(policy, attempt);
      logger.warn('storage operation failed, retrying', {
        what,
        code: error.code,
        error: error.message,
        attempt,
        delayMs,
      });
      try {
        await sleep(delayMs, undefined, { signal });
      } catch {
        throw new StorageError('Aborted', `${what}: cancelled while waiting to retry after: ${error.message}`);
      }
    }
  }
}

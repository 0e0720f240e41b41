/** An answer from the API server other than 2xx, with what the controller needs to decide what to do next. */
export class KubeApiError extends Error {
  override name = 'KubeApiError';
  readonly code: number;
  readonly reason: string;
  readonly retryAfterSeconds?: number;
  constructor(code: number, reason: string, message: string, retryAfterSeconds?: number) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** A problem with the TraceJob itself that retrying cannot fix; its message goes into the status. */
export class TerminalError extends Error {
  override name = 'TerminalError';
}

/**
 * What a failed reconcile means (controller-runtime's contract): `retry` goes back on the queue with per-item
 * exponential backoff; `requeueAfter` waits for the server's Retry-After; `terminal` is logged and not retried,
 * because the same input would fail the same way.
 */
export type ErrorClass =
  | { kind: 'retry'; why: string }
  | { kind: 'requeueAfter'; seconds: number; why: string }
  | { kind: 'terminal'; why: string };

export function classifyError(err: unknown): ErrorClass {
  if (err instanceof TerminalError) return { kind: 'terminal', why: err.message };
  if (err instanceof KubeApiError) {
    const why = `${err.code} ${err.reason}: ${err.message}`;
    if (err.code === 429 || (err.code === 503 && err.retryAfterSeconds !== undefined)) {
      return { kind: 'requeueAfter', seconds: Math.min(Math.max(err.retryAfterSeconds ?? 1, 1), 300), why };
    }
    // 409: someone else wrote first; re-read the cache and decide again. 5xx, 404 on a stale cache: transient.
    // 403: RBAC or a ServiceAccount still being installed; the backoff keeps the retries rare.
    if ([403, 404, 408, 409].includes(err.code) || err.code >= 500) return { kind: 'retry', why };
    // 400/422: the request is malformed, and sending it again will not change that.
    return { kind: 'terminal', why };
  }
  // Connection refused, reset, timeouts: the server may come back.
  return { kind: 'retry', why: err instanceof Error ? err.message : String(err) };
}

import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { Agent, fetch } from 'undici';
import { KubeApiError } from './errors.ts';
import type { ClusterAccess } from './kubeconfig.ts';

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
}

/** Called once per finished request, for metrics and the benchmark's request count. */
export type RequestObserver = (method: string, path: string, code: number) => void;

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/**
 * A thin REST client over the kubeconfig's credentials. It exists because the generated client hides what the
 * controller needs to decide (status code, Status reason, Retry-After) and cannot send the patch types we use.
 */
export class KubeClient {
  readonly #access: ClusterAccess;
  readonly #server: string;
  readonly #observe: RequestObserver;
  /** One connection pool for every request. */
  #dispatcher?: Agent;

  constructor(options: { access: ClusterAccess; onRequest?: RequestObserver }) {
    this.#access = options.access;
    this.#server = options.access.server;
    this.#observe = options.onRequest ?? (() => {});
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.#send(method, path, options);
    const text = await response.text();
    this.#observe(method, path, response.status);
    if (response.status >= 200 && response.status < 300) return (text ? JSON.parse(text) : undefined) as T;
    throw apiError(response.status, text, response.headers.get('retry-after'));
  }

  /**
   * Opens a watch and delivers its events until the stream ends, the signal aborts, or the server sends an error.
   * Resolves when the stream is over; rejects with a KubeApiError when the server refused it (410 included).
   */
  async watch<T>(
    path: string,
    query: Record<string, string | number | boolean | undefined>,
    onEvent: (event: WatchEvent<T>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const response = await this.#send('GET', path, { query: { ...query, watch: true }, signal });
    if (response.status !== 200) {
      const text = await response.text().catch(() => '');
      this.#observe('WATCH', path, response.status);
      throw apiError(response.status, text, response.headers.get('retry-after'));
    }
    this.#observe('WATCH', path, 200);
    if (!response.body) return;
    const lines = createInterface({ input: Readable.fromWeb(response.body as never), crlfDelay: Infinity });
    try {
      for await (const line of lines) {
        if (!line.trim()) continue;
        const event = JSON.parse(line) as WatchEvent<T>;
        if (event.type === 'ERROR') {
          const status = event.object as { code?: number; reason?: string; message?: string };
          throw new KubeApiError(status.code ?? 500, status.reason ?? 'WatchError', status.message ?? 'watch error');
        }
        onEvent(event);
      }
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    } finally {
      lines.close();
    }
  }

  /** Closes pooled connections; requests after this fail. */
  async close(): Promise<void> {
    await this.#dispatcher?.close();
  }

  async #send(method: string, path: string, options: RequestOptions) {
    const url = new URL(this.#server + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    // Asked per request: exec plugins and projected ServiceAccount tokens rotate credentials.
    const auth = await this.#access.authenticate();
    this.#dispatcher ??= new Agent({
      connect: {
        ca: auth.ca,
        cert: auth.cert,
        key: auth.key,
        rejectUnauthorized: auth.rejectUnauthorized,
        servername: auth.servername,
      },
    });
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(auth.headers ?? {})) {
      if (value !== undefined) headers[key.toLowerCase()] = String(value);
    }
    headers['accept'] = 'application/json';
    if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
    return fetch(url, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      dispatcher: this.#dispatcher,
      signal: options.signal ?? AbortSignal.timeout(30_000),
    });
  }
}

function apiError(code: number, text: string, retryAfter: string | null): KubeApiError {
  let status: { reason?: string; message?: string } = {};
  try {
    status = JSON.parse(text) as typeof status;
  } catch {
    status = { message: text.slice(0, 500) };
  }
  const seconds = retryAfter !== null && /^\d+$/.test(retryAfter.trim()) ? Number(retryAfter) : undefined;
  return new KubeApiError(
    code,
    status.reason ?? (code === 429 ? 'TooManyRequests' : 'Unknown'),
    status.message ?? `HTTP ${code}`,
    seconds,
  );
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.code === 404;
}

export function isAlreadyExists(err: unknown): boolean {
  return err instanceof KubeApiError && err.code === 409 && err.reason === 'AlreadyExists';
}

export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.code === 409;
}

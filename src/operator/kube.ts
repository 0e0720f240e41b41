import { HttpMethod, KubeConfig, RequestContext } from '@kubernetes/client-node';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { fetch, type Dispatcher } from 'undici';
import { KubeApiError } from './errors.ts';

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
  readonly kubeConfig: KubeConfig;
  readonly #server: string;
  readonly #observe: RequestObserver;

  constructor(options: { kubeConfig: KubeConfig; onRequest?: RequestObserver }) {
    this.kubeConfig = options.kubeConfig;
    const cluster = options.kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig names no current cluster');
    this.#server = cluster.server.replace(/\/$/, '');
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

  async #send(method: string, path: string, options: RequestOptions) {
    const url = new URL(this.#server + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const context = new RequestContext(url.toString(), method as HttpMethod);
    await this.kubeConfig.applySecurityAuthentication(context);
    const headers = context.getHeaders() as unknown as Record<string, string>;
    headers['accept'] = 'application/json';
    if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
    return fetch(url, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      dispatcher: context.getDispatcher() as Dispatcher | undefined,
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

/** The kubeconfig from a file, or the pod's ServiceAccount when running in a cluster, or the usual defaults. */
export function loadKubeConfig(file?: string): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  return allowPlainHttp(kc);
}

/**
 * The client library refuses an `http://` server unless TLS verification is off, although there is no TLS to verify;
 * kubectl accepts such a kubeconfig (a local development cluster writes one), so we do too.
 */
export function allowPlainHttp(kc: KubeConfig): KubeConfig {
  if (!kc.clusters.some((c) => c.server.startsWith('http:') && !c.skipTLSVerify)) return kc;
  const fixed = new KubeConfig();
  fixed.loadFromOptions({
    clusters: kc.clusters.map((c) => (c.server.startsWith('http:') ? { ...c, skipTLSVerify: true } : c)),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  return fixed;
}

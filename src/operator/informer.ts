import type { KubernetesObject } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger, type Logger } from '../log.ts';
import { KubeApiError } from './errors.ts';
import type { KubeClient } from './kube.ts';
import { withoutUndefined } from './names.ts';

export type ChangeType = 'add' | 'update' | 'delete' | 'resync';
export type ChangeHandler<T> = (type: ChangeType, object: T) => void;

export interface InformerOptions<T extends KubernetesObject> {
  client: KubeClient;
  /** Collection path, e.g. `/apis/tracejob.dev/v1alpha1/tracejobs` or `/api/v1/namespaces/ns/pods`. */
  path: string;
  labelSelector?: string;
  /** Re-delivers every cached object this often, so a missed event cannot leave an object unreconciled forever. */
  resyncMs?: number;
  /** The server ends each watch after about this long (jittered), which re-checks the connection cheaply. */
  watchTimeoutSeconds?: number;
  /** A watch with no event and no bookmark for this long is presumed dead and replaced. */
  silenceMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  pageSize?: number;
  /** Shrinks each cached object (drop managedFields, say): the cache of a large cluster is the operator's memory. */
  transform?: (object: T) => T;
  logger?: Logger;
  /** Every failed list or watch, for metrics. */
  onFailure?: (what: 'list' | 'watch', err: unknown) => void;
}

interface List<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

/**
 * A list-and-watch cache that does not give up. The client library's informer stops on any error but 410 and does
 * not ask for bookmarks; this one restarts after any failure with jittered exponential backoff, relists on 410,
 * replaces a watch that goes silent, asks for bookmarks so a quiet collection is not mistaken for a dead one, and
 * resyncs periodically. Handlers run synchronously and should only enqueue.
 */
export class Informer<T extends KubernetesObject> {
  readonly #options: Required<Omit<InformerOptions<T>, 'labelSelector' | 'transform' | 'onFailure'>> &
    InformerOptions<T>;
  readonly #cache = new Map<string, T>();
  readonly #handlers: ChangeHandler<T>[] = [];
  #resourceVersion = '';
  #synced = false;
  #syncWaiters: (() => void)[] = [];
  #lastActivity = Date.now();
  /** Counts of restarts by cause, for tests and the metrics endpoint. */
  readonly restarts = { relist: 0, error: 0, silence: 0 };

  constructor(options: InformerOptions<T>) {
    this.#options = {
      resyncMs: 5 * 60_000,
      watchTimeoutSeconds: 300,
      silenceMs: 90_000,
      backoffBaseMs: 250,
      backoffMaxMs: 30_000,
      pageSize: 500,
      logger: silentLogger(),
      ...withoutUndefined(options),
    };
  }

  on(handler: ChangeHandler<T>): void {
    this.#handlers.push(handler);
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.#cache.get(cacheKey(namespace, name));
  }

  list(): T[] {
    return [...this.#cache.values()];
  }

  get size(): number {
    return this.#cache.size;
  }

  hasSynced(): boolean {
    return this.#synced;
  }

  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#syncWaiters.push(resolve);
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  }

  /** Runs until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const resync = setInterval(() => this.#resync(), this.#options.resyncMs);
    resync.unref();
    let failures = 0;
    try {
      while (!signal.aborted) {
        try {
          if (!this.#resourceVersion) await this.#relist(signal);
          await this.#watchOnce(signal);
          failures = 0;
        } catch (err) {
          if (signal.aborted) break;
          if (err instanceof KubeApiError && err.code === 410) {
            // The server no longer holds history that old: start over from a fresh list, at once.
            this.restarts.relist++;
            this.#resourceVersion = '';
            this.#options.logger.info('watch expired; relisting', { path: this.#options.path });
            continue;
          }
          failures++;
          this.restarts.error++;
          const delay = jittered(
            Math.min(this.#options.backoffMaxMs, this.#options.backoffBaseMs * 2 ** (failures - 1)),
          );
          this.#options.logger.warn('list/watch failed; retrying', {
            path: this.#options.path,
            error: err instanceof Error ? err.message : String(err),
            retryInMs: Math.round(delay),
          });
          await sleep(delay, undefined, { signal }).catch(() => {});
        }
      }
    } finally {
      clearInterval(resync);
    }
  }

  async #relist(signal: AbortSignal): Promise<void> {
    const fresh = new Map<string, T>();
    let resourceVersion: string;
    let continueToken: string | undefined;
    try {
      do {
        const page = await this.#options.client.request<List<T>>('GET', this.#options.path, {
          query: { labelSelector: this.#options.labelSelector, limit: this.#options.pageSize, continue: continueToken },
          signal: AbortSignal.any([signal, AbortSignal.timeout(60_000)]),
        });
        for (const item of page.items) {
          const object = this.#shrink(item);
          fresh.set(keyOfObject(object), object);
        }
        resourceVersion = page.metadata?.resourceVersion ?? '';
        continueToken = page.metadata?.continue || undefined;
      } while (continueToken);
    } catch (err) {
      this.#options.onFailure?.('list', err);
      throw err;
    }
    for (const [key, old] of this.#cache) {
      if (!fresh.has(key)) {
        this.#cache.delete(key);
        this.#emit('delete', old);
      }
    }
    for (const [key, object] of fresh) {
      const old = this.#cache.get(key);
      this.#cache.set(key, object);
      if (!old) this.#emit('add', object);
      else if (old.metadata?.resourceVersion !== object.metadata?.resourceVersion) this.#emit('update', object);
    }
    this.#resourceVersion = resourceVersion;
    if (!this.#synced) {
      this.#synced = true;
      for (const resolve of this.#syncWaiters.splice(0)) resolve();
    }
  }

  async #watchOnce(signal: AbortSignal): Promise<void> {
    const stop = new AbortController();
    const both = AbortSignal.any([signal, stop.signal]);
    this.#lastActivity = Date.now();
    let silent = false;
    const watchdog = setInterval(
      () => {
        if (Date.now() - this.#lastActivity > this.#options.silenceMs) {
          silent = true;
          stop.abort();
        }
      },
      Math.max(50, Math.min(5_000, this.#options.silenceMs / 4)),
    );
    const timeoutSeconds = Math.round(this.#options.watchTimeoutSeconds * (0.5 + Math.random() * 0.5)) || 1;
    try {
      await this.#options.client.watch<T>(
        this.#options.path,
        {
          labelSelector: this.#options.labelSelector,
          resourceVersion: this.#resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds,
        },
        (event) => {
          this.#lastActivity = Date.now();
          this.#apply(event.type, event.object);
        },
        both,
      );
    } catch (err) {
      this.#options.onFailure?.('watch', err);
      throw err;
    } finally {
      clearInterval(watchdog);
    }
    if (silent && !signal.aborted) {
      this.restarts.silence++;
      this.#options.onFailure?.('watch', new Error('watch went silent'));
      this.#options.logger.warn('watch silent; reconnecting', {
        path: this.#options.path,
        silentForMs: Date.now() - this.#lastActivity,
      });
    }
  }

  #apply(type: string, raw: T): void {
    const resourceVersion = raw.metadata?.resourceVersion;
    if (type === 'BOOKMARK') {
      if (resourceVersion) this.#resourceVersion = resourceVersion;
      return;
    }
    const object = this.#shrink(raw);
    const key = keyOfObject(object);
    if (type === 'DELETED') {
      const old = this.#cache.get(key);
      this.#cache.delete(key);
      if (old) this.#emit('delete', object);
    } else if (type === 'ADDED' || type === 'MODIFIED') {
      const old = this.#cache.get(key);
      this.#cache.set(key, object);
      this.#emit(old ? 'update' : 'add', object);
    }
    if (resourceVersion) this.#resourceVersion = resourceVersion;
  }

  #resync(): void {
    for (const object of this.#cache.values()) this.#emit('resync', object);
  }

  #emit(type: ChangeType, object: T): void {
    for (const handler of this.#handlers) {
      try {
        handler(type, object);
      } catch (err) {
        this.#options.logger.error('informer handler threw', { error: String(err) });
      }
    }
  }

  #shrink(object: T): T {
    if (object.metadata?.managedFields) delete object.metadata.managedFields;
    return this.#options.transform ? this.#options.transform(object) : object;
  }
}

function cacheKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

function keyOfObject(object: KubernetesObject): string {
  return cacheKey(object.metadata?.namespace, object.metadata?.name ?? '');
}

/** Between half and one and a half times the delay, so restarting clients do not stampede the server together. */
export function jittered(ms: number): number {
  return ms * (0.5 + Math.random());
}

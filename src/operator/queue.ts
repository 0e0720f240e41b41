import { withoutUndefined } from './names.ts';

export interface QueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Sustained retries per second across all keys, and the burst allowed above it. */
  qps?: number;
  burst?: number;
  now?: () => number;
}

/**
 * A work queue with client-go's semantics: a key is queued at most once however often it is added; a key being
 * processed is never handed to a second worker, and one added meanwhile is processed again after `done`.
 * Failures back off per key (exponential) and, across all keys, through a token bucket, so a flood of failing
 * objects cannot turn into a flood of API requests.
 */
export class WorkQueue {
  readonly #queue: string[] = [];
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  readonly #addedAt = new Map<string, number>();
  readonly #waiters: ((key: string | undefined) => void)[] = [];
  readonly #options: Required<QueueOptions>;
  #tokens: number;
  #tokensAt: number;
  #shuttingDown = false;
  /** Called with how long each key waited between being added and being picked up. */
  onLatency: (ms: number) => void = () => {};

  constructor(options: QueueOptions = {}) {
    this.#options = {
      baseDelayMs: 50,
      maxDelayMs: 300_000,
      qps: 10,
      burst: 100,
      now: Date.now,
      ...withoutUndefined(options),
    };
    this.#tokens = this.#options.burst;
    this.#tokensAt = this.#options.now();
  }

  get depth(): number {
    return this.#queue.length;
  }

  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (!this.#addedAt.has(key)) this.#addedAt.set(key, this.#options.now());
    if (!this.#processing.has(key)) this.#enqueue(key);
  }

  /** Adds the key after a delay; an earlier pending delay for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = this.#options.now() + ms;
    const pending = this.#timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.#timers.set(key, { at, timer });
  }

  /** Adds the key again after its backoff: the longer of its per-key exponential delay and the global bucket's. */
  addRateLimited(key: string): void {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    const perItem = Math.min(this.#options.maxDelayMs, this.#options.baseDelayMs * 2 ** failures);
    this.addAfter(key, Math.max(perItem, this.#bucketDelay()));
  }

  /** Clears the key's failure history once it has been processed successfully. */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** The next key to process, or undefined once the queue shuts down. */
  get(): Promise<string | undefined> {
    const key = this.#queue.shift();
    if (key !== undefined) {
      this.#take(key);
      return Promise.resolve(key);
    }
    if (this.#shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key)) this.#enqueue(key);
  }

  shutDown(): void {
    this.#shuttingDown = true;
    for (const { timer } of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    for (const waiter of this.#waiters.splice(0)) waiter(undefined);
  }

  #enqueue(key: string): void {
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#take(key);
      waiter(key);
    } else this.#queue.push(key);
  }

  #take(key: string): void {
    this.#dirty.delete(key);
    this.#processing.add(key);
    const added = this.#addedAt.get(key);
    this.#addedAt.delete(key);
    if (added !== undefined) this.onLatency(this.#options.now() - added);
  }

  #bucketDelay(): number {
    const now = this.#options.now();
    this.#tokens = Math.min(this.#options.burst, this.#tokens + ((now - this.#tokensAt) / 1000) * this.#options.qps);
    this.#tokensAt = now;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.#options.qps) * 1000;
  }
}

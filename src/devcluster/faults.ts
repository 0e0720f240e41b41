/** A request failure to inject: the next `count` requests matching verb/resource/namespace/name get `status`. */
export interface RequestFault {
  /** get, list, watch, create, update, patch, delete, deletecollection; any when absent. */
  verb?: string;
  /** `pods`, `pods/status`, `tracejobs` or `tracejobs.tracejob.dev`; any when absent. */
  resource?: string;
  namespace?: string;
  name?: string;
  /** 500 (InternalError), 429 (TooManyRequests, with Retry-After), 503, 504 or 409. */
  status: number;
  retryAfterSeconds?: number;
  count?: number;
  message?: string;
}

export interface WatchFilter {
  /** Plural resource name, optionally `.group`; every watch when absent. */
  resource?: string;
}

export type ExpireMode = 'stream' | 'http';

/** What the fault injector acts on; the running cluster implements it. */
export interface FaultTarget {
  dropWatches(filter: WatchFilter, how: 'reset' | 'end'): number;
  silenceWatches(filter: WatchFilter): number;
  expireResourceVersions(mode: ExpireMode): void;
  restart(): Promise<void>;
}

interface ArmedFault extends RequestFault {
  remaining: number;
}

/**
 * Fault injection for reliability tests, used in-process or over `POST /_devcluster/faults/<action>`. Faults only
 * exist in the development cluster; tests that need them skip against a real cluster.
 */
export class Faults {
  private readonly armed: ArmedFault[] = [];
  private target: FaultTarget | undefined;
  private expireModeValue: ExpireMode = 'stream';
  /** Counts of requests answered with an injected failure, by `verb resource`. */
  readonly injected = new Map<string, number>();

  attach(target: FaultTarget): void {
    this.target = target;
  }

  private need(): FaultTarget {
    if (!this.target) throw new Error('the fault injector is not attached to a running cluster');
    return this.target;
  }

  /** Arms a request failure; returns how many requests it will fail. */
  failRequests(fault: RequestFault): number {
    if (![409, 429, 500, 503, 504].includes(fault.status))
      throw new Error(`status must be one of 409, 429, 500, 503, 504; got ${fault.status}`);
    const count = fault.count ?? 1;
    if (!Number.isInteger(count) || count < 1)
      throw new Error(`count must be a positive integer; got ${String(fault.count)}`);
    this.armed.push({ ...fault, remaining: count });
    return count;
  }

  /** Takes the first armed fault matching a request, if any. */
  match(request: {
    verb: string;
    group: string;
    resource: string;
    subresource?: string;
    namespace?: string;
    name?: string;
  }): RequestFault | undefined {
    const names = new Set<string>();
    const base = request.subresource ? `${request.resource}/${request.subresource}` : request.resource;
    names.add(base);
    if (request.group)
      names.add(
        request.subresource
          ? `${request.resource}.${request.group}/${request.subresource}`
          : `${request.resource}.${request.group}`,
      );
    const i = this.armed.findIndex(
      (f) =>
        (f.verb === undefined || f.verb === request.verb) &&
        (f.resource === undefined || names.has(f.resource)) &&
        (f.namespace === undefined || f.namespace === request.namespace) &&
        (f.name === undefined || f.name === request.name),
    );
    if (i < 0) return undefined;
    const f = this.armed[i] as ArmedFault;
    f.remaining--;
    if (f.remaining <= 0) this.armed.splice(i, 1);
    const key = `${request.verb} ${base}`;
    this.injected.set(key, (this.injected.get(key) ?? 0) + 1);
    return f;
  }

  /** Cuts watch connections abruptly (TCP reset); clients must re-watch. Returns how many were cut. */
  dropWatches(filter: WatchFilter = {}): number {
    return this.need().dropWatches(filter, 'reset');
  }

  /** Ends watch streams cleanly, as kube-apiserver does at its request timeout. */
  closeWatches(filter: WatchFilter = {}): number {
    return this.need().dropWatches(filter, 'end');
  }

  /** Open watches stay connected but receive nothing more: no events, no bookmarks. */
  silenceWatches(filter: WatchFilter = {}): number {
    return this.need().silenceWatches(filter);
  }

  /**
   * Makes every resourceVersion seen so far too old: open watches end (with an in-stream ERROR 410 in 'stream' mode),
   * and resuming a watch or a list continuation from an old resourceVersion answers 410 — as an in-stream ERROR event
   * in 'stream' mode, as an HTTP 410 response in 'http' mode.
   */
  expireResourceVersions(mode: ExpireMode = 'stream'): void {
    this.expireModeValue = mode;
    this.need().expireResourceVersions(mode);
  }

  get expireMode(): ExpireMode {
    return this.expireModeValue;
  }

  /** Stops and restarts the API server on the same port from its state directory. */
  restart(): Promise<void> {
    return this.need().restart();
  }

  /** Disarms every pending request fault. */
  reset(): void {
    this.armed.length = 0;
    this.expireModeValue = 'stream';
  }
}

import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger, type Logger } from '../log.ts';
import { isConflict, isNotFound, type KubeClient } from './kube.ts';
import { withoutUndefined } from './names.ts';

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds?: number;
  /** A leader that cannot renew for this long steps down, before anyone else may take over. */
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  logger?: Logger;
}

/**
 * Leader election over a coordination.k8s.io/v1 Lease, as client-go does it: a candidate takes the lease only when
 * its holder has not renewed it for a full lease duration as measured by the candidate's own clock (never by
 * comparing timestamps from two machines), and every write is conditional on the resourceVersion it read.
 */
export class LeaderElector {
  readonly #o: Required<LeaderElectionOptions>;
  #observed?: { record: string; at: number };
  #leading = false;

  constructor(options: LeaderElectionOptions) {
    this.#o = {
      leaseDurationSeconds: 15,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      logger: silentLogger(),
      ...withoutUndefined(options),
    };
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  /**
   * Waits until this instance leads, then calls `lead` with a signal that aborts when leadership is lost (or the
   * outer signal aborts). Resolves after `lead` returns; on a clean shutdown the lease is released so a standby
   * takes over at once instead of after a lease duration.
   */
  async run(signal: AbortSignal, lead: (signal: AbortSignal) => Promise<void>): Promise<void> {
    while (!signal.aborted && !(await this.#tryAcquireOrRenew())) {
      await sleep(this.#o.retryPeriodMs * (1 + Math.random() * 0.2), undefined, { signal }).catch(() => {});
    }
    if (signal.aborted) return;
    this.#leading = true;
    this.#o.logger.info('became leader', { lease: `${this.#o.namespace}/${this.#o.name}`, identity: this.#o.identity });
    const lost = new AbortController();
    const leading = AbortSignal.any([signal, lost.signal]);
    const renewing = this.#renewLoop(leading, lost);
    try {
      await lead(leading);
    } finally {
      lost.abort();
      await renewing;
      this.#leading = false;
      await this.#release();
    }
  }

  async #renewLoop(signal: AbortSignal, lost: AbortController): Promise<void> {
    let lastRenew = Date.now();
    while (!signal.aborted) {
      await sleep(this.#o.retryPeriodMs, undefined, { signal }).catch(() => {});
      if (signal.aborted) return;
      if (await this.#tryAcquireOrRenew()) lastRenew = Date.now();
      else if (Date.now() - lastRenew > this.#o.renewDeadlineMs) {
        this.#o.logger.error('lost leadership: could not renew the lease in time', { identity: this.#o.identity });
        lost.abort(new Error('leadership lost'));
        return;
      }
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const path = `/apis/coordination.k8s.io/v1/namespaces/${this.#o.namespace}/leases`;
    const now = new Date();
    const mine = {
      holderIdentity: this.#o.identity,
      leaseDurationSeconds: this.#o.leaseDurationSeconds,
      renewTime: microTime(now),
    };
    try {
      let lease: Lease;
      try {
        lease = await this.#o.client.request<Lease>('GET', `${path}/${this.#o.name}`);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        await this.#o.client.request('POST', path, {
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.#o.name, namespace: this.#o.namespace },
            spec: { ...mine, acquireTime: microTime(now), leaseTransitions: 0 },
          },
        });
        return true;
      }
      const holder = lease.spec.holderIdentity ?? '';
      const record = JSON.stringify(lease.spec);
      if (this.#observed?.record !== record) this.#observed = { record, at: Date.now() };
      const duration = (lease.spec.leaseDurationSeconds ?? this.#o.leaseDurationSeconds) * 1000;
      const expired = Date.now() - this.#observed.at > duration;
      if (holder && holder !== this.#o.identity && !expired) return false;
      const taking = holder !== this.#o.identity;
      const updated: Lease = {
        ...lease,
        spec: {
          ...lease.spec,
          ...mine,
          ...(taking
            ? { acquireTime: microTime(now), leaseTransitions: (lease.spec.leaseTransitions ?? 0) + (holder ? 1 : 0) }
            : {}),
        },
      };
      const written = await this.#o.client.request<Lease>('PUT', `${path}/${this.#o.name}`, { body: updated });
      this.#observed = { record: JSON.stringify(written.spec), at: Date.now() };
      return true;
    } catch (err) {
      if (!isConflict(err)) {
        this.#o.logger.warn('lease request failed', { error: err instanceof Error ? err.message : String(err) });
      }
      return false;
    }
  }

  async #release(): Promise<void> {
    const path = `/apis/coordination.k8s.io/v1/namespaces/${this.#o.namespace}/leases/${this.#o.name}`;
    try {
      const lease = await this.#o.client.request<Lease>('GET', path);
      if (lease.spec.holderIdentity !== this.#o.identity) return;
      await this.#o.client.request('PUT', path, {
        body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 } },
      });
    } catch (err) {
      this.#o.logger.warn('could not release the lease', { error: err instanceof Error ? err.message : String(err) });
    }
  }
}

/** metav1.MicroTime: RFC 3339 with microseconds. */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

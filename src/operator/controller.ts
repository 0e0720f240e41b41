import { REFRESH_URLS_ANNOTATION } from '../storage/urls.ts';
import type { V1Pod } from '@kubernetes/client-node';
import { performance } from 'node:perf_hooks';
import { validateTracePolicy, type TracePolicy } from '../api/tracepolicy.ts';
import { silentLogger, type Logger } from '../log.ts';
import type { OperatorConfig } from './config.ts';
import { classifyError } from './errors.ts';
import { Informer, type InformerOptions } from './informer.ts';
import type { KubeClient } from './kube.ts';
import type { OperatorMetrics } from './metrics.ts';
import { TRACER_POD_SELECTOR, ownerKeyOfTracerPod, splitKey, keyOf, withoutUndefined } from './names.ts';
import { WorkQueue, type QueueOptions } from './queue.ts';
import { Reconciler, TRACEJOB_PATH, type EventSink } from './reconcile.ts';
import { isFinished } from './status.ts';
import type { TraceJobObject } from './types.ts';

export interface ControllerOptions {
  client: KubeClient;
  config: OperatorConfig;
  events: EventSink;
  metrics: OperatorMetrics;
  workers?: number;
  logger?: Logger;
  queue?: QueueOptions;
  /** Informer tuning (resync, watch timeout, silence watchdog, backoff); tests shorten these. */
  informer?: Pick<
    InformerOptions<never>,
    'resyncMs' | 'watchTimeoutSeconds' | 'silenceMs' | 'backoffBaseMs' | 'backoffMaxMs'
  >;
  targetCheckMs?: number;
  targetWaitSeconds?: number;
  /** Called after each reconcile, for the benchmark's latency figures. */
  onReconciled?: (key: string, ms: number) => void;
}

/**
 * Wires informers to the work queue and the queue to the reconciler. Informers run on every replica (a standby
 * keeps a warm cache); workers run only while this replica leads.
 */
export class Controller {
  readonly traceJobs: Informer<TraceJobObject>;
  readonly tracerPods: Informer<V1Pod>;
  readonly policies: Informer<{ metadata?: { name?: string; resourceVersion?: string } }>;
  readonly queue: WorkQueue;
  readonly reconciler: Reconciler;
  readonly #o: ControllerOptions & { logger: Logger; workers: number };
  /** Keys the server told to wait (429 Retry-After): events must not bring them back sooner. */
  readonly #notBefore = new Map<string, number>();
  /** TraceJob key → names of its tracer pods, maintained from pod events so lookups need not scan the cache. */
  readonly #podsByOwner = new Map<string, Set<string>>();

  constructor(options: ControllerOptions) {
    this.#o = { workers: 4, logger: silentLogger(), ...withoutUndefined(options) };
    const { client, config, logger, metrics } = this.#o;
    const restarts = (informer: string) => (what: 'list' | 'watch', err: unknown) => {
      const code = (err as { code?: number }).code;
      metrics.informerRestarts.inc({ informer, cause: code === 410 ? 'expired' : `${what}-failed` });
    };
    const tuning = this.#o.informer ?? {};
    this.traceJobs = new Informer<TraceJobObject>({
      client,
      path: `${TRACEJOB_PATH}/tracejobs`,
      logger: logger.child({ informer: 'tracejobs' }),
      onFailure: restarts('tracejobs'),
      transform: slim,
      ...tuning,
    });
    this.tracerPods = new Informer<V1Pod>({
      client,
      path: `/api/v1/namespaces/${config.tracerNamespace}/pods`,
      labelSelector: TRACER_POD_SELECTOR,
      logger: logger.child({ informer: 'tracer-pods' }),
      onFailure: restarts('tracer-pods'),
      ...tuning,
    });
    this.policies = new Informer({
      client,
      path: `${TRACEJOB_PATH}/tracepolicies`,
      logger: logger.child({ informer: 'tracepolicies' }),
      onFailure: restarts('tracepolicies'),
      ...tuning,
    });
    this.queue = new WorkQueue(options.queue);
    this.queue.onLatency = (ms) => metrics.queueLatency.observe(ms / 1000);
    this.reconciler = new Reconciler({
      client,
      config,
      events: options.events,
      logger,
      targetCheckMs: options.targetCheckMs,
      targetWaitSeconds: options.targetWaitSeconds,
      onSlotFreed: (key) => this.queue.add(key),
      caches: {
        traceJob: (namespace, name) => this.traceJobs.get(namespace, name),
        traceJobs: () => this.traceJobs.list(),
        tracerPodsOf: (key) =>
          [...(this.#podsByOwner.get(key) ?? [])]
            .map((name) => this.tracerPods.get(config.tracerNamespace, name))
            .filter((p): p is V1Pod => p !== undefined),
        policies: () => this.#validPolicies(),
      },
    });

    this.traceJobs.on((_type, job) => this.queue.add(keyOf(job.metadata.namespace, job.metadata.name)));
    this.tracerPods.on((type, pod) => {
      const owner = ownerKeyOfTracerPod(pod);
      const name = pod.metadata?.name ?? '';
      if (!owner) return;
      if (type === 'delete') this.#podsByOwner.get(owner)?.delete(name);
      else {
        let set = this.#podsByOwner.get(owner);
        if (!set) this.#podsByOwner.set(owner, (set = new Set()));
        set.add(name);
      }
      if (this.#podsByOwner.get(owner)?.size === 0) this.#podsByOwner.delete(owner);
      this.queue.add(owner);
    });
    // A policy change may admit TraceJobs that were waiting, or refuse ones not yet started.
    this.policies.on(() => {
      for (const job of this.traceJobs.list()) {
        if (!job.status?.startTime && !isFinished(job.status))
          this.queue.add(keyOf(job.metadata.namespace, job.metadata.name));
      }
    });
  }

  /** Informers run until the signal aborts; resolves when all have synced once. */
  startInformers(signal: AbortSignal): { synced: Promise<void>; done: Promise<void> } {
    const informers = [this.traceJobs, this.tracerPods, this.policies];
    const done = Promise.all(informers.map((i) => i.run(signal))).then(() => {});
    const synced = Promise.all(informers.map((i) => i.waitForSync(signal))).then(() => {});
    return { synced, done };
  }

  hasSynced(): boolean {
    return this.traceJobs.hasSynced() && this.tracerPods.hasSynced() && this.policies.hasSynced();
  }

  /** Work until the signal aborts (shutdown or lost leadership): orphan sweep, then N workers. */
  async runWorkers(signal: AbortSignal): Promise<void> {
    const queue = this.queue;
    this.reconciler.primeActive();
    // Every TraceJob gets one pass at start; every tracer pod's owner too, which sweeps the orphans of TraceJobs
    // deleted while no operator was running.
    for (const job of this.traceJobs.list()) queue.add(keyOf(job.metadata.namespace, job.metadata.name));
    for (const owner of this.#podsByOwner.keys()) queue.add(owner);
    for (const pod of this.tracerPods.list()) {
      if (!ownerKeyOfTracerPod(pod)) await this.#deleteUnowned(pod);
    }
    const stop = () => queue.shutDown();
    signal.addEventListener('abort', stop, { once: true });
    const gauges = setInterval(() => this.#updateGauges(), 1000);
    gauges.unref();
    try {
      await Promise.all(Array.from({ length: this.#o.workers }, () => this.#worker()));
    } finally {
      clearInterval(gauges);
      signal.removeEventListener('abort', stop);
    }
  }

  async #worker(): Promise<void> {
    const { metrics, logger } = this.#o;
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const wait = (this.#notBefore.get(key) ?? 0) - Date.now();
      if (wait > 0) {
        this.queue.done(key);
        this.queue.addAfter(key, wait);
        continue;
      }
      this.#notBefore.delete(key);
      const { namespace, name } = splitKey(key);
      const started = performance.now();
      let result: 'success' | 'requeue' | 'retry' | 'terminal' = 'success';
      try {
        const outcome = await this.reconciler.reconcile(key, namespace, name);
        this.queue.forget(key);
        if (outcome.requeueAfterMs !== undefined) {
          result = 'requeue';
          this.queue.addAfter(key, outcome.requeueAfterMs);
        }
      } catch (err) {
        const verdict = classifyError(err);
        result = verdict.kind === 'requeueAfter' ? 'requeue' : verdict.kind;
        const log = logger.child({ traceJob: key });
        if (verdict.kind === 'retry') {
          this.queue.addRateLimited(key);
          log.warn('reconcile failed; retrying', { error: verdict.why, attempt: this.queue.failures(key) });
        } else if (verdict.kind === 'requeueAfter') {
          this.#notBefore.set(key, Date.now() + verdict.seconds * 1000);
          this.queue.addAfter(key, verdict.seconds * 1000);
          log.warn('server asked to slow down', { error: verdict.why, retryInSeconds: verdict.seconds });
        } else {
          this.queue.forget(key);
          log.error('reconcile failed permanently', { error: verdict.why });
        }
      } finally {
        this.reconciler.settle(key);
        const ms = performance.now() - started;
        metrics.reconciles.inc({ result });
        metrics.reconcileDuration.observe(ms / 1000);
        this.#o.onReconciled?.(key, ms);
        this.queue.done(key);
        metrics.queueDepth.set(this.queue.depth);
      }
    }
  }

  async #deleteUnowned(pod: V1Pod): Promise<void> {
    try {
      await this.#o.client.request(
        'DELETE',
        `/api/v1/namespaces/${pod.metadata!.namespace}/pods/${pod.metadata!.name}`,
      );
      this.#o.logger.info('deleted a tracer pod with no owner', { pod: pod.metadata!.name });
    } catch (err) {
      this.#o.logger.warn('could not delete an unowned tracer pod', { pod: pod.metadata!.name, error: String(err) });
    }
  }

  #validPolicies(): TracePolicy[] {
    const valid: TracePolicy[] = [];
    for (const raw of this.policies.list()) {
      const checked = validateTracePolicy(raw);
      if (checked.ok) valid.push(checked.value);
      else
        this.#o.logger.warn('ignoring an invalid TracePolicy', { policy: raw.metadata?.name, errors: checked.errors });
    }
    return valid;
  }

  #updateGauges(): void {
    const { metrics } = this.#o;
    metrics.queueDepth.set(this.queue.depth);
    const phases = new Map<string, number>([
      ['Pending', 0],
      ['Running', 0],
      ['Succeeded', 0],
      ['Failed', 0],
      ['', 0],
    ]);
    for (const job of this.traceJobs.list()) {
      const phase = job.status?.phase ?? '';
      phases.set(phase, (phases.get(phase) ?? 0) + 1);
    }
    for (const [phase, n] of phases) metrics.traceJobs.set({ phase }, n);
    metrics.activeTracerPods.set(
      this.tracerPods.list().filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed').length,
    );
  }
}

/**
 * What the cache keeps of a TraceJob. kubectl's last-applied copy is never read. A finished TraceJob is only ever
 * released, expired or deleted, so its cached copy keeps just what that needs: at 10,000 TraceJobs the cache is most
 * of the operator's memory, and most TraceJobs in a cluster are finished ones.
 */
export function slim(job: TraceJobObject): TraceJobObject {
  const annotations = job.metadata.annotations;
  if (annotations?.['kubectl.kubernetes.io/last-applied-configuration']) {
    delete annotations['kubectl.kubernetes.io/last-applied-configuration'];
  }
  if (!isFinished(job.status)) return job;
  const m = job.metadata;
  const spec = (job.spec ?? {}) as { storage?: string; ttlSecondsAfterFinished?: number };
  const status = job.status!;
  return {
    apiVersion: job.apiVersion,
    kind: job.kind,
    metadata: {
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      generation: m.generation,
      creationTimestamp: m.creationTimestamp,
      deletionTimestamp: m.deletionTimestamp,
      finalizers: m.finalizers,
      // The one request a finished TraceJob still answers: fresh links for its artifacts.
      ...(m.annotations?.[REFRESH_URLS_ANNOTATION] !== undefined
        ? { annotations: { [REFRESH_URLS_ANNOTATION]: m.annotations[REFRESH_URLS_ANNOTATION] } }
        : {}),
    },
    spec: { storage: spec.storage, ttlSecondsAfterFinished: spec.ttlSecondsAfterFinished },
    status: {
      phase: status.phase,
      startTime: status.startTime,
      completionTime: status.completionTime,
      // Only their presence matters here (artifacts to delete with the TraceJob).
      artifacts: status.artifacts?.length ? status.artifacts.slice(0, 1) : undefined,
    },
  };
}

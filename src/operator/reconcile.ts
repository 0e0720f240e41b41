import type { V1ConfigMap, V1Namespace, V1Node, V1Pod, V1PodList } from '@kubernetes/client-node';
import { MAX_PROGRAM_BYTES, parseDuration, validateTraceJob, type TraceJob } from '../api/tracejob.ts';
import { selectorToQuery, type LabelSelector } from '../api/selector.ts';
import { evaluatePolicy, type TracePolicy } from '../api/tracepolicy.ts';
import { silentLogger, type Logger } from '../log.ts';
import { credentialEnvFromSecretData, selectProfile, StorageConfigError, type SinkConfig } from '../storage/config.ts';
import { traceJobPrefix } from '../storage/layout.ts';
import { REFRESH_URLS_ANNOTATION } from '../storage/urls.ts';
import type { ArtifactSink } from '../storage/index.ts';
import type { OperatorConfig } from './config.ts';
import { TerminalError } from './errors.ts';
import { isAlreadyExists, isConflict, isNotFound, type KubeClient } from './kube.ts';
import { FINALIZER, GENERATION_ANNOTATION, UID_LABEL, keyOf, tracerPodName, withoutUndefined } from './names.ts';
import {
  failedBeforeStart,
  isFinished,
  sameStatus,
  tracingStatus,
  waitingToStart,
  type TracerPodObservation,
} from './status.ts';
import { nodesOf, resolveTargets, type Target } from './targets.ts';
import { desiredTracerPods, recordOf, targetsOfTracerPod, type TraceJobForPods } from './tracer-pod.ts';
import type { Reason, TraceJobObject, TraceJobStatus } from './types.ts';

export const TRACEJOB_PATH = '/apis/tracejob.dev/v1alpha1';
const EXPECTATION_TTL_MS = 30_000;

interface Expectation {
  /** resourceVersions of the TraceJob that our writes superseded. */
  staleVersions: Set<string>;
  createdPods: Set<string>;
  at: number;
}

/** What the reconciler reads from the informers' caches. */
export interface Caches {
  traceJob(namespace: string, name: string): TraceJobObject | undefined;
  traceJobs(): TraceJobObject[];
  /** Tracer pods whose annotations point at this TraceJob key (any UID). */
  tracerPodsOf(key: string): V1Pod[];
  policies(): TracePolicy[];
}

export interface EventSink {
  record(job: TraceJobObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

export interface ReconcilerOptions {
  client: KubeClient;
  config: OperatorConfig;
  caches: Caches;
  events: EventSink;
  logger?: Logger;
  now?: () => Date;
  /** While tracing, how often target pods are checked for deletion. */
  targetCheckMs?: number;
  /** How long to wait for a not-yet-running target before failing. */
  targetWaitSeconds?: number;
  /** Called for each TraceJob waiting on a concurrency limit when a running one finishes. */
  onSlotFreed?: (key: string) => void;
}

/** What the work queue does with the key after a successful reconcile. */
export interface Result {
  requeueAfterMs?: number;
}

/**
 * One TraceJob's reconcile: level-based and idempotent. It reads the TraceJob and its tracer pods from the caches,
 * decides from them alone, and makes the few writes that move the world toward the decision. Running it twice, or
 * after a crash at any point, converges to the same state: pod names are deterministic, creates tolerate
 * AlreadyExists, deletes tolerate NotFound, and status is written only when it differs.
 */
export class Reconciler {
  readonly #o: Required<ReconcilerOptions>;
  /** Admitted but unfinished TraceJobs: the policy's concurrency limits count these, and admission is synchronous. */
  readonly #active = new Map<string, { namespace: string; nodes: string[] }>();

  constructor(options: ReconcilerOptions) {
    this.#o = {
      logger: silentLogger(),
      now: () => new Date(),
      targetCheckMs: 15_000,
      targetWaitSeconds: 60,
      onSlotFreed: () => {},
      ...withoutUndefined(options),
    };
  }

  /** Rebuilds the admission ledger from the cache; run once the informers have synced, before workers start. */
  primeActive(): void {
    for (const job of this.#o.caches.traceJobs()) {
      const key = keyOf(job.metadata.namespace, job.metadata.name);
      const pods = this.#o.caches.tracerPodsOf(key).filter((p) => p.metadata?.labels?.[UID_LABEL] === job.metadata.uid);
      if ((job.status?.startTime || pods.length) && !isFinished(job.status)) {
        const nodes = pods.map((p) => p.spec?.nodeName ?? '');
        for (const t of job.status?.targets ?? []) nodes.push(t.node ?? '');
        this.#active.set(key, { namespace: job.metadata.namespace, nodes: [...new Set(nodes.filter(Boolean))] });
      }
    }
  }

  /**
   * What this replica wrote per key that the informers have not delivered yet (client-go's "expectations"). Acting
   * on a cache that lags behind our own writes would repeat them: a second status write, a create that answers
   * AlreadyExists, a finalizer patch that conflicts.
   */
  readonly #expectations = new Map<string, Expectation>();
  #sweptAt = 0;
  /** Writes of the reconciles in progress (workers run concurrently, one per key), settled into expectations. */
  readonly #inflight = new Map<string, Omit<Expectation, 'at'>>();
  /** Pods we asked to delete, by UID, so a lagging cache does not make us ask again. */
  readonly #deleting = new Map<string, number>();

  #cacheBehind(key: string, job: TraceJobObject | undefined, pods: readonly V1Pod[]): boolean {
    const expected = this.#expectations.get(key);
    if (!expected) return false;
    const fresh = Date.now() - expected.at < EXPECTATION_TTL_MS;
    const jobBehind = job !== undefined && expected.staleVersions.has(job.metadata.resourceVersion ?? '');
    const names = new Set(pods.map((p) => p.metadata?.name));
    const podsBehind = [...expected.createdPods].some((n) => !names.has(n));
    if (fresh && (jobBehind || podsBehind)) return true;
    this.#expectations.delete(key);
    return false;
  }

  /** Records what this reconcile wrote, once it is over (successfully or not). */
  settle(key: string): void {
    const written = this.#inflight.get(key);
    this.#inflight.delete(key);
    if (!written || (!written.staleVersions.size && !written.createdPods.size)) return;
    const now = Date.now();
    this.#expectations.set(key, { staleVersions: written.staleVersions, createdPods: written.createdPods, at: now });
    // A key never reconciled again would keep its entry; the sweep is rare and linear.
    if (this.#expectations.size > 1000 && now - this.#sweptAt > EXPECTATION_TTL_MS) {
      this.#sweptAt = now;
      for (const [k, e] of this.#expectations) if (now - e.at > EXPECTATION_TTL_MS) this.#expectations.delete(k);
    }
  }

  #wroteJob(job: TraceJobObject): void {
    const key = keyOf(job.metadata.namespace, job.metadata.name);
    if (job.metadata.resourceVersion) this.#inflight.get(key)?.staleVersions.add(job.metadata.resourceVersion);
  }

  /** Keys waiting for a concurrency slot; they are looked at again as soon as one frees. */
  readonly #waitingForSlot = new Set<string>();

  #release(key: string): void {
    this.#waitingForSlot.delete(key);
    if (!this.#active.delete(key)) return;
    for (const waiting of this.#waitingForSlot) this.#o.onSlotFreed(waiting);
  }

  #waitForSlot(key: string, job: TraceJobObject, message: string): Promise<Result> {
    this.#waitingForSlot.add(key);
    return this.#wait(job, 'PolicyDenied', message, 30_000);
  }

  get activeCount(): number {
    return this.#active.size;
  }

  async reconcile(key: string, namespace: string, name: string): Promise<Result> {
    const job = this.#o.caches.traceJob(namespace, name);
    const pods = this.#o.caches.tracerPodsOf(key);
    if (this.#cacheBehind(key, job, pods)) return { requeueAfterMs: 1_000 };
    this.#inflight.set(key, { staleVersions: new Set(), createdPods: new Set() });
    if (!job) {
      // Gone without our finalizer running (removed by hand, or deleted while we were down): clean up after it.
      this.#release(key);
      await this.#deletePods(pods);
      return {};
    }
    const log = this.#o.logger.child({ traceJob: key, uid: job.metadata.uid });
    const own = pods.filter((p) => p.metadata?.labels?.[UID_LABEL] === job.metadata.uid);
    // Pods of an earlier TraceJob with the same name: never adopted.
    await this.#deletePods(pods.filter((p) => !own.includes(p)));

    if (job.metadata.deletionTimestamp) return this.#finalize(key, job, own, log);

    if (isFinished(job.status)) {
      this.#release(key);
      await this.#deletePods(own);
      const current = await this.#refreshLinks(job, log);
      await this.#releaseFinished(current);
      return this.#expire(current);
    }

    if (job.metadata.namespace === this.#o.config.tracerNamespace) {
      return this.#finishBeforeStart(
        job,
        'PolicyDenied',
        `TraceJobs are not accepted in namespace "${job.metadata.namespace}", where the operator runs its privileged ` +
          'tracer pods; create it in the namespace of the pods to trace',
        own,
      );
    }

    const validated = validateTraceJob(job);
    if (!validated.ok) {
      const message = validated.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
      return this.#finishBeforeStart(job, 'InvalidSpec', message, own);
    }
    // Started once it has tracer pods, even before any status says so: a crash between creating them and the next
    // status write must not lead to a second round of admission and pod creation.
    if (job.status?.startTime || own.length > 0) {
      return this.#track(key, await this.#ensureFinalizer(job), validated.value, own, log);
    }
    return this.#start(key, job, validated.value, own, log);
  }

  /** Before any tracer runs: policy, targets, then the tracer pods. */
  async #start(key: string, job: TraceJobObject, typed: TraceJob, own: V1Pod[], log: Logger): Promise<Result> {
    const now = this.#o.now();
    const { namespace } = job.metadata;
    const policies = this.#o.caches.policies();
    const labels = await this.#namespaceLabels(namespace);
    const counts = this.#counts(key, namespace);
    let decision = evaluatePolicy(policies, labels, typed, { inNamespace: counts.inNamespace });
    if (!decision.allowed) {
      if (decision.retryable) return this.#waitForSlot(key, job, decision.message);
      return this.#finishBeforeStart(job, 'PolicyDenied', decision.message, own);
    }

    const target = typed.spec.target;
    const found = await this.#findTargetPods(namespace, target.pod, target.selector as LabelSelector | undefined);
    const nodes = new Map<string, V1Node | undefined>();
    for (const node of nodesOf(found)) nodes.set(node, await this.#getOrUndefined<V1Node>(`/api/v1/nodes/${node}`));
    const resolution = resolveTargets(
      { namespace, pod: target.pod, container: target.container, maxTargets: decision.maxTargets },
      found,
      nodes,
    );
    if (resolution.targets.length === 0) {
      const problem = resolution.problems[0]!;
      const message = resolution.problems.map((p) => p.message).join('; ');
      const waited = (now.getTime() - Date.parse(String(job.metadata.creationTimestamp))) / 1000;
      if (problem.reason !== 'TargetNotFound' && waited < this.#o.targetWaitSeconds) {
        return this.#wait(job, problem.reason, message, 5_000);
      }
      return this.#finishBeforeStart(job, problem.reason, message, own);
    }
    const targetNodes = [...new Set(resolution.targets.map((t) => t.node))];
    decision = evaluatePolicy(policies, labels, typed, { ...counts, targetNodes });
    if (!decision.allowed) {
      if (decision.retryable) return this.#waitForSlot(key, job, decision.message);
      return this.#finishBeforeStart(job, 'PolicyDenied', decision.message, own);
    }
    // Admission is synchronous from the check above to here, so concurrent workers cannot both pass a limit.
    this.#active.set(key, { namespace, nodes: targetNodes });
    this.#waitingForSlot.delete(key);

    let forPods: TraceJobForPods;
    try {
      forPods = await this.#podInput(job, typed);
    } catch (err) {
      this.#release(key);
      if (err instanceof TerminalError) return this.#finishBeforeStart(job, 'InvalidSpec', err.message, own);
      throw err;
    }
    const skipped = resolution.problems.map((p) => p.message);
    if (resolution.omitted) {
      skipped.push(`${resolution.omitted} more matching pod(s) beyond maxTargets ${decision.maxTargets}`);
    }
    const desired = desiredTracerPods(forPods, resolution.targets, this.#o.config, {
      policy: decision.policy,
      skipped,
    });
    // The finalizer goes on only now, when there is something to clean up: a refused TraceJob never gets one.
    try {
      await this.#ensureFinalizer(job);
    } catch (err) {
      this.#release(key);
      throw err;
    }
    for (const pod of desired) {
      try {
        await this.#o.client.request('POST', `/api/v1/namespaces/${this.#o.config.tracerNamespace}/pods`, {
          body: pod,
        });
        this.#inflight.get(key)?.createdPods.add(pod.metadata!.name!);
        log.info('created tracer pod', { pod: pod.metadata!.name, node: pod.spec!.nodeName });
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
      }
    }
    // No status write here: the pods' own events bring the next reconcile, which reports them as they are by
    // then (often already Running), saving a write per TraceJob. The requeue covers a lost event.
    return { requeueAfterMs: 5_000 };
  }

  /** After the tracer pods were made: follow them, and the targets, to the end. */
  async #track(key: string, job: TraceJobObject, typed: TraceJob, own: V1Pod[], log: Logger): Promise<Result> {
    const now = this.#o.now();
    const status = job.status ?? {};
    const targets: Target[] = status.targets?.length
      ? status.targets.map((t) => ({
          namespace: t.namespace,
          pod: t.pod,
          podUID: t.podUID ?? '',
          container: t.container ?? '',
          containerID: t.containerID ?? '',
          node: t.node ?? '',
          qosClass: t.qosClass ?? 'BestEffort',
        }))
      : own.flatMap(targetsOfTracerPod);
    const startTime =
      status.startTime ??
      own.map((p) => new Date(p.metadata?.creationTimestamp ?? now).toISOString()).sort()[0] ??
      now.toISOString();
    const recorded = own.map(recordOf).find((r) => r !== undefined);
    const nodes = nodesOfTargets(targets);
    if (!this.#active.has(key)) this.#active.set(key, { namespace: job.metadata.namespace, nodes });
    const byName = new Map(own.map((p) => [p.metadata!.name!, p]));
    const tracers: TracerPodObservation[] = [];
    for (const node of nodes) {
      const podName = tracerPodName(job.metadata.name, job.metadata.uid, node);
      let pod = byName.get(podName);
      let gone = false;
      if (!pod) {
        // The cache may simply lag behind our own create: ask the server before calling the pod lost.
        pod = await this.#getOrUndefined<V1Pod>(`/api/v1/namespaces/${this.#o.config.tracerNamespace}/pods/${podName}`);
        gone = !pod;
      }
      tracers.push({ node, name: podName, pod, gone });
    }
    const lost = await this.#lostTargets(targets);
    const deadline = this.#deadline(startTime, parseDuration(typed.spec.duration));
    const next = tracingStatus(
      job,
      {
        targets,
        skipped: recorded?.skipped ?? [],
        lost,
        tracers,
        startTime,
        deadline,
        startTimeoutSeconds: this.#o.config.startTimeoutSeconds,
      },
      now,
    );
    const policy = status.policy ?? recorded?.policy;
    if (policy) next.policy = policy;
    const startedAt = own.map((p) => p.metadata?.annotations?.[GENERATION_ANNOTATION]).find(Boolean);
    if (startedAt && job.metadata.generation !== undefined && String(job.metadata.generation) !== startedAt) {
      next.message +=
        `\nspec changed (generation ${job.metadata.generation}) after the trace started with generation ` +
        `${startedAt}; the change is ignored: create a new TraceJob instead`;
    }
    // Links are signed once, on the write that finishes the TraceJob, so they cost no write of their own.
    if (isFinished(next) && next.artifacts) next.artifacts = await this.#linked(job, next.artifacts, false, log);
    const written = await this.#writeStatus(job, next, log);
    if (isFinished(next)) {
      this.#release(key);
      await this.#deletePods(own);
      await this.#releaseFinished(written);
      return this.#expire(written);
    }
    const untilDeadline = deadline.getTime() - now.getTime();
    return { requeueAfterMs: Math.max(1_000, Math.min(this.#o.targetCheckMs, untilDeadline + 1_000)) };
  }

  /** Target pods deleted or replaced since the trace started, with why. */
  async #lostTargets(targets: readonly Target[]): Promise<Map<string, string>> {
    const lost = new Map<string, string>();
    for (const t of targets) {
      const pod = await this.#getOrUndefined<V1Pod>(`/api/v1/namespaces/${t.namespace}/pods/${t.pod}`);
      if (!pod || pod.metadata?.uid !== t.podUID) lost.set(t.pod, `pod ${t.pod} was deleted during the trace`);
      else if (pod.metadata?.deletionTimestamp) lost.set(t.pod, `pod ${t.pod} is being deleted`);
    }
    return lost;
  }

  async #finalize(key: string, job: TraceJobObject, own: V1Pod[], log: Logger): Promise<Result> {
    this.#release(key);
    await this.#deletePods(own);
    if (!job.metadata.finalizers?.includes(FINALIZER)) return {};
    await this.#deleteArtifacts(job, log);
    await this.#removeFinalizer(job);
    log.info('cleaned up', { tracerPods: own.length });
    return {};
  }

  /**
   * `status.artifacts` with presigned links where the TraceJob's storage profile gives them (S3). Signing needs only
   * the operator's credentials, no request to the store; a failure leaves the artifacts without links and says why
   * in the log, since the results themselves are stored and listed.
   */
  async #linked(
    job: TraceJobObject,
    artifacts: NonNullable<TraceJobStatus['artifacts']>,
    refresh: boolean,
    log: Logger,
  ): Promise<NonNullable<TraceJobStatus['artifacts']>> {
    if (!artifacts.some((a) => a.uri.startsWith('s3://'))) return artifacts;
    try {
      const profile = selectProfile(this.#o.config.storage, (job.spec as { storage?: string } | undefined)?.storage);
      if (profile.config.type !== 's3') return artifacts;
      const { linkArtifacts } = await import('../storage/index.ts');
      return await linkArtifacts(await this.#sinkFor(profile.config, log), artifacts, { refresh });
    } catch (err) {
      log.warn('could not sign artifact links', { error: err instanceof Error ? err.message : String(err) });
      return artifacts;
    }
  }

  /** Honours the refresh annotation on a finished TraceJob: fresh links for every artifact, then the annotation goes. */
  async #refreshLinks(job: TraceJobObject, log: Logger): Promise<TraceJobObject> {
    if (job.metadata.annotations?.[REFRESH_URLS_ANNOTATION] === undefined) return job;
    // The cache keeps only a slim copy of finished TraceJobs (see slim()): the artifacts come from the server.
    let current = await this.#o.client.request<TraceJobObject>('GET', this.#jobPath(job));
    if (current.status?.artifacts?.length) {
      const artifacts = await this.#linked(current, current.status.artifacts, true, log);
      current = await this.#writeStatus(current, { ...current.status, artifacts }, log);
    }
    this.#wroteJob(current);
    const updated = await this.#o.client.request<TraceJobObject>('PATCH', this.#jobPath(current), {
      contentType: 'application/merge-patch+json',
      body: { metadata: { annotations: { [REFRESH_URLS_ANNOTATION]: null } } },
    });
    log.info('refreshed artifact links');
    return { ...current, metadata: { ...current.metadata, ...updated.metadata } };
  }

  /** The storage profile whose artifacts go when the TraceJob goes (deletePolicy Delete), if it has any stored. */
  #artifactsToDelete(job: TraceJobObject) {
    if (!job.status?.artifacts?.length) return undefined;
    try {
      const profile = selectProfile(this.#o.config.storage, (job.spec as { storage?: string } | undefined)?.storage);
      return profile.config.deletePolicy === 'Delete' ? profile : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * A finished TraceJob keeps the finalizer only while deleting it must also delete its stored artifacts; otherwise
   * it is released at once, and deleting the TraceJob later costs the operator nothing.
   */
  async #releaseFinished(job: TraceJobObject): Promise<void> {
    if (!this.#artifactsToDelete(job)) await this.#removeFinalizer(job);
  }

  async #deleteArtifacts(job: TraceJobObject, log: Logger): Promise<void> {
    const profile = this.#artifactsToDelete(job);
    if (!profile) return;
    const sink = await this.#sinkFor(profile.config, log);
    const prefix = traceJobPrefix({
      prefix: profile.config.type === 's3' ? profile.config.prefix : '',
      namespace: job.metadata.namespace,
      traceJob: job.metadata.name,
      uid: job.metadata.uid,
    });
    const deleted = await sink.deletePrefix(prefix);
    log.info('deleted artifacts', { prefix, objects: deleted });
  }

  /** A sink for a storage profile, with the keys its Secret holds, else the SDK's default chain (workload identity). */
  async #sinkFor(config: SinkConfig, log: Logger): Promise<ArtifactSink> {
    const env = config.type === 's3' && config.credentialsSecret ? await this.#secretEnv(config.credentialsSecret) : {};
    // Loaded on first use: the S3 client is large, and an operator storing on nodes never needs it.
    const { createSink } = await import('../storage/index.ts');
    return createSink(config, { env, logger: log });
  }

  async #secretEnv(name: string): Promise<Record<string, string | undefined>> {
    const secret = await this.#o.client.request<{ data?: Record<string, string> }>(
      'GET',
      `/api/v1/namespaces/${this.#o.config.tracerNamespace}/secrets/${name}`,
    );
    const decoded = Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
    return credentialEnvFromSecretData(decoded);
  }

  /** Deletes the TraceJob once ttlSecondsAfterFinished has passed, or says when to look again. */
  async #expire(job: TraceJobObject): Promise<Result> {
    const ttl = (job.spec as { ttlSecondsAfterFinished?: number } | undefined)?.ttlSecondsAfterFinished;
    const completed = Date.parse(job.status?.completionTime ?? '');
    if (ttl === undefined || !Number.isFinite(completed)) return {};
    const remaining = completed + ttl * 1000 - this.#o.now().getTime();
    if (remaining > 0) return { requeueAfterMs: remaining };
    try {
      await this.#o.client.request('DELETE', this.#jobPath(job), {
        body: { preconditions: { uid: job.metadata.uid } },
      });
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
    return {};
  }

  async #finishBeforeStart(job: TraceJobObject, reason: Reason, message: string, own: V1Pod[]): Promise<Result> {
    this.#release(keyOf(job.metadata.namespace, job.metadata.name));
    const written = await this.#writeStatus(
      job,
      failedBeforeStart(job, reason, message, this.#o.now()),
      this.#o.logger,
    );
    await this.#deletePods(own);
    await this.#removeFinalizer(written);
    return this.#expire(written);
  }

  async #wait(
    job: TraceJobObject,
    reason: 'PolicyDenied' | 'TargetNotRunning' | 'NodeNotReady',
    message: string,
    requeueAfterMs: number,
  ): Promise<Result> {
    await this.#writeStatus(job, waitingToStart(job, reason, message, this.#o.now()), this.#o.logger);
    return { requeueAfterMs };
  }

  async #podInput(job: TraceJobObject, typed: TraceJob): Promise<TraceJobForPods> {
    const spec = typed.spec;
    let profile;
    try {
      profile = selectProfile(this.#o.config.storage, spec.storage);
    } catch (err) {
      if (err instanceof StorageConfigError) throw new TerminalError(err.message);
      throw err;
    }
    let tracer = spec.tracer;
    const from = tracer.bpftrace?.programFrom?.configMapKeyRef;
    if (tracer.type === 'bpftrace' && from) {
      const cm = await this.#getOrUndefined<V1ConfigMap>(
        `/api/v1/namespaces/${job.metadata.namespace}/configmaps/${from.name}`,
      );
      const program = cm?.data?.[from.key];
      if (program === undefined) {
        throw new TerminalError(
          `spec.tracer.bpftrace.programFrom: ConfigMap "${from.name}" ${cm ? `has no key "${from.key}"` : 'was not found'} in namespace "${job.metadata.namespace}"`,
        );
      }
      if (Buffer.byteLength(program) > MAX_PROGRAM_BYTES) {
        throw new TerminalError(
          `spec.tracer.bpftrace.programFrom: the program in ConfigMap "${from.name}" is ${Buffer.byteLength(program)} bytes; accepted: at most ${MAX_PROGRAM_BYTES}`,
        );
      }
      tracer = { ...tracer, bpftrace: { program } };
    }
    return {
      namespace: job.metadata.namespace,
      name: job.metadata.name,
      uid: job.metadata.uid,
      generation: job.metadata.generation ?? 1,
      tracer,
      process: spec.target.process,
      durationSeconds: parseDuration(spec.duration),
      outputs: spec.outputs ?? [],
      storage: profile,
    };
  }

  async #findTargetPods(namespace: string, pod?: string, selector?: LabelSelector): Promise<V1Pod[]> {
    if (pod) {
      const found = await this.#getOrUndefined<V1Pod>(`/api/v1/namespaces/${namespace}/pods/${pod}`);
      return found ? [found] : [];
    }
    const list = await this.#o.client.request<V1PodList>('GET', `/api/v1/namespaces/${namespace}/pods`, {
      query: { labelSelector: selectorToQuery(selector ?? {}) },
    });
    return list.items;
  }

  async #namespaceLabels(namespace: string): Promise<Record<string, string>> {
    const ns = await this.#getOrUndefined<V1Namespace>(`/api/v1/namespaces/${namespace}`);
    return { 'kubernetes.io/metadata.name': namespace, ...(ns?.metadata?.labels ?? {}) };
  }

  #counts(key: string, namespace: string): { inNamespace: number; perNode: Record<string, number> } {
    let inNamespace = 0;
    const perNode: Record<string, number> = {};
    for (const [other, entry] of this.#active) {
      if (other === key) continue;
      if (entry.namespace === namespace) inNamespace++;
      for (const node of entry.nodes) perNode[node] = (perNode[node] ?? 0) + 1;
    }
    return { inNamespace, perNode };
  }

  #deadline(startTime: string, durationSeconds: number): Date {
    const margin = this.#o.config.deadlineMarginSeconds + 30;
    return new Date(Date.parse(startTime) + (Math.ceil(durationSeconds) + margin) * 1000);
  }

  async #ensureFinalizer(job: TraceJobObject): Promise<TraceJobObject> {
    const finalizers = job.metadata.finalizers ?? [];
    if (finalizers.includes(FINALIZER)) return job;
    this.#wroteJob(job);
    const updated = await this.#o.client.request<TraceJobObject>('PATCH', this.#jobPath(job), {
      contentType: 'application/merge-patch+json',
      body: { metadata: { finalizers: [...finalizers, FINALIZER], resourceVersion: job.metadata.resourceVersion } },
    });
    return { ...job, metadata: { ...job.metadata, ...updated.metadata }, status: job.status };
  }

  async #removeFinalizer(job: TraceJobObject): Promise<void> {
    const finalizers = job.metadata.finalizers ?? [];
    if (!finalizers.includes(FINALIZER)) return;
    this.#wroteJob(job);
    try {
      await this.#o.client.request('PATCH', this.#jobPath(job), {
        contentType: 'application/merge-patch+json',
        body: {
          metadata: {
            finalizers: finalizers.filter((f) => f !== FINALIZER),
            resourceVersion: job.metadata.resourceVersion,
          },
        },
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /**
   * Merge-patches /status when the derived status differs; fields the new status drops are nulled. Returns the
   * TraceJob as the server now has it, whose resourceVersion later conditional writes must carry.
   */
  async #writeStatus(job: TraceJobObject, status: TraceJobStatus, log: Logger): Promise<TraceJobObject> {
    if (sameStatus(job.status, status)) return job;
    this.#wroteJob(job);
    const patch: Record<string, unknown> = { ...status };
    for (const field of Object.keys(job.status ?? {})) if (!(field in status)) patch[field] = null;
    const written = await this.#o.client.request<TraceJobObject>('PATCH', `${this.#jobPath(job)}/status`, {
      contentType: 'application/merge-patch+json',
      body: { status: patch },
    });
    const before = job.status?.phase;
    if (status.phase !== before) {
      log.info('phase changed', { from: before ?? '(none)', to: status.phase });
      const failed = status.conditions?.find((c) => c.type === 'Failed' && c.status === 'True');
      const accepted = status.conditions?.find((c) => c.type === 'Accepted');
      const reason =
        failed?.reason ??
        (status.phase === 'Succeeded'
          ? 'Completed'
          : status.phase === 'Running'
            ? 'Started'
            : (accepted?.reason ?? 'Pending'));
      await this.#o.events
        .record(job, status.phase === 'Failed' ? 'Warning' : 'Normal', reason, (status.message ?? '').slice(0, 1024))
        .catch((err: unknown) => log.warn('could not record event', { error: String(err) }));
    }
    return { ...job, metadata: { ...job.metadata, ...written.metadata }, status: written.status ?? status };
  }

  async #deletePods(pods: readonly V1Pod[]): Promise<void> {
    const now = Date.now();
    for (const [uid, at] of this.#deleting) if (now - at > EXPECTATION_TTL_MS) this.#deleting.delete(uid);
    for (const pod of pods) {
      if (pod.metadata?.deletionTimestamp || this.#deleting.has(pod.metadata?.uid ?? '')) continue;
      this.#deleting.set(pod.metadata?.uid ?? '', now);
      try {
        await this.#o.client.request(
          'DELETE',
          `/api/v1/namespaces/${pod.metadata!.namespace}/pods/${pod.metadata!.name}`,
          {
            body: { preconditions: { uid: pod.metadata!.uid } },
          },
        );
      } catch (err) {
        if (!isNotFound(err) && !isConflict(err)) throw err;
      }
    }
  }

  async #getOrUndefined<T>(path: string): Promise<T | undefined> {
    try {
      return await this.#o.client.request<T>('GET', path);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  #jobPath(job: TraceJobObject): string {
    return `${TRACEJOB_PATH}/namespaces/${job.metadata.namespace}/tracejobs/${job.metadata.name}`;
  }
}

function nodesOfTargets(targets: readonly Target[]): string[] {
  return [...new Set(targets.map((t) => t.node))].sort();
}

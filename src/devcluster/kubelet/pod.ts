import type { CoreV1Api, V1Container, V1ContainerStateTerminated, V1Pod } from '@kubernetes/client-node';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import type { Logger } from '../../log.ts';
import {
  cgroupPathFor,
  ContainerStartError,
  ensureCgroup,
  newContainerID,
  podCgroupPath,
  removeCgroup,
  runContainer,
  type CgroupDriver,
  type ContainerExit,
  type QosClass,
  type RunningContainer,
} from '../runc.ts';
import { ContainerConfigError, containerEnv, expand, referencedObjects, type PodObjects } from './env.ts';
import { containerArgv, parseImage, tracerBinDir } from './image.ts';
import { PodLogError, type PodLogOptions } from '../pod-logs.ts';
import { criLogText, CriLogWriter, readContainerLog } from './logs.ts';
import { containerResources, oomScoreAdj, podSpecErrors, qosClass } from './resources.ts';
import { podStatus, terminatedReason, terminationMessage, type ContainerRecord } from './status.ts';
import { containerMounts, prepareVolumes, type PreparedVolume } from './volumes.ts';
import { statusCode, toKubeJson } from './api.ts';
import { recordPodEvent, type PodEvent } from './events.ts';
import type { Readable } from 'node:stream';

export interface PodRuntimeContext {
  core: CoreV1Api;
  nodeName: string;
  hostIP: string;
  /** This kubelet's state: pod directories, container bundles, runc's own state. */
  stateDir: string;
  checkoutDir: string;
  /** Host directory holding the `tracejob` shim for tracer-image containers. */
  shimDir: string;
  cgroupDriver: CgroupDriver;
  node: { cpu: number; memoryBytes: number };
  logger: Logger;
}

const defaultGraceSeconds = 30;
const configRetryMs = 2000;
const backoffStartMs = 10_000;
const backoffMaxMs = 300_000;

interface ContainerSlot {
  spec: V1Container;
  init: boolean;
  record: ContainerRecord;
  running?: RunningContainer;
  log?: CriLogWriter;
  logPaths: string[];
}

/**
 * Runs one pod for its whole life on this node: prepares volumes and the pod cgroup, runs init containers then
 * containers as runc containers, applies the restart policy, the active deadline and graceful deletion, reports
 * status, and finally removes the pod object (delete with grace period 0) the way a kubelet finishes a deletion.
 */
export class PodWorker {
  readonly uid: string;
  pod: V1Pod;
  readonly #ctx: PodRuntimeContext;
  readonly #dir: string;
  readonly #qos: QosClass;
  readonly #slots: ContainerSlot[];
  readonly #stopping = new AbortController();
  #graceSeconds = defaultGraceSeconds;
  #failure?: { reason: string; message: string };
  #sandboxReady = false;
  #startTime = new Date();
  #removed = false;
  #statusDirty = false;
  #statusWriting?: Promise<void>;
  #terminal = false;
  #finishingDeletion = false;
  #wake: () => void = () => undefined;
  readonly done: Promise<void>;

  constructor(ctx: PodRuntimeContext, pod: V1Pod) {
    this.#ctx = ctx;
    this.pod = pod;
    this.uid = pod.metadata!.uid!;
    this.#dir = join(ctx.stateDir, 'pods', this.uid);
    this.#qos = qosClass(pod);
    const slot = (spec: V1Container, init: boolean): ContainerSlot => {
      let imageID = '';
      let image = spec.image ?? '';
      try {
        const parsed = parseImage(spec.image ?? '');
        image = parsed.name;
        imageID = parsed.imageID;
      } catch {
        // Reported as InvalidImageName when the container is started.
      }
      return {
        spec,
        init,
        record: {
          name: spec.name,
          image,
          imageID,
          restartCount: 0,
          state: {
            waiting: { reason: init || pod.spec?.initContainers?.length ? 'PodInitializing' : 'ContainerCreating' },
          },
        },
        logPaths: [],
      };
    };
    this.#slots = [
      ...(pod.spec?.initContainers ?? []).map((c) => slot(c, true)),
      ...(pod.spec?.containers ?? []).map((c) => slot(c, false)),
    ];
    if (pod.status?.startTime) this.#startTime = new Date(pod.status.startTime);
    this.done = this.#run().catch((err: unknown) => {
      this.#log().error('pod worker failed', { error: String(err) });
    });
  }

  #event(event: PodEvent): void {
    recordPodEvent(this.#ctx.core, this.#ctx.nodeName, this.#ctx.logger, this.pod, event);
  }

  #log(): Logger {
    return this.#ctx.logger.child({ pod: `${this.pod.metadata?.namespace}/${this.pod.metadata?.name}` });
  }

  /** A newer version of the pod from the watch. */
  update(pod: V1Pod): void {
    this.pod = pod;
    if (pod.metadata?.deletionTimestamp)
      this.#requestStop(pod.metadata.deletionGracePeriodSeconds ?? this.#specGrace());
    if (this.#terminal && pod.metadata?.deletionTimestamp) void this.#finishDeletion();
    this.#wake();
  }

  /** The pod object is gone from the API server: kill at once, report nothing more. */
  removed(): void {
    this.#removed = true;
    this.#requestStop(0);
    this.#wake();
  }

  /** Kubelet shutdown: kill every container now and clean up. */
  async shutdown(): Promise<void> {
    this.#removed = true;
    this.#requestStop(0);
    this.#wake();
    await this.done;
  }

  #specGrace(): number {
    return this.pod.spec?.terminationGracePeriodSeconds ?? defaultGraceSeconds;
  }

  #requestStop(graceSeconds: number): void {
    if (this.#stopping.signal.aborted) {
      this.#graceSeconds = Math.min(this.#graceSeconds, graceSeconds);
      return;
    }
    this.#graceSeconds = graceSeconds;
    this.#stopping.abort();
  }

  async #run(): Promise<void> {
    const phase = this.pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') {
      this.#terminal = true;
      if (this.pod.metadata?.deletionTimestamp) await this.#finishDeletion();
      return;
    }
    if (this.pod.status?.containerStatuses?.some((s) => s.containerID)) {
      await this.#lostContainers();
      return;
    }
    if (this.pod.metadata?.deletionTimestamp) this.#requestStop(0);
    await mkdir(this.#dir, { recursive: true });
    const deadline = this.#startDeadline();
    try {
      this.#markStatus();
      const volumes = await this.#prepare();
      if (volumes) {
        await this.#runInitContainers(volumes);
        if (this.#initDone())
          await Promise.all(this.#slots.filter((s) => !s.init).map((s) => this.#supervise(s, volumes)));
      }
    } finally {
      clearTimeout(deadline);
      await Promise.all(this.#slots.map((s) => s.running?.delete()));
      for (const slot of this.#slots) slot.log?.close();
      await removeCgroup(podCgroupPath({ qosClass: this.#qos, podUID: this.uid, driver: this.#ctx.cgroupDriver }), {
        removeEmptyAncestors: true,
      }).catch((err: unknown) => this.#log().warn('could not remove pod cgroup', { error: String(err) }));
    }
    this.#terminal = true;
    if (this.#removed) return;
    // Containers that never started are terminated too once the pod stops, so the phase becomes final.
    for (const slot of this.#slots) {
      if (slot.record.state.waiting) {
        slot.record.restarting = false;
        slot.record.state = {
          terminated: {
            exitCode: 137,
            reason: 'ContainerStatusUnknown',
            message: 'The container could not be started before the pod stopped',
          },
        };
      }
    }
    this.#markStatus();
    await this.#statusWriting;
    if (this.pod.metadata?.deletionTimestamp) await this.#finishDeletion();
  }

  /** After a kubelet restart, containers of a running pod are gone: report them the way kubelet does. */
  async #lostContainers(): Promise<void> {
    for (const slot of this.#slots) {
      const previous = [
        ...(this.pod.status?.initContainerStatuses ?? []),
        ...(this.pod.status?.containerStatuses ?? []),
      ].find((s) => s.name === slot.spec.name);
      slot.record.restartCount = previous?.restartCount ?? 0;
      slot.record.containerID = previous?.containerID;
      slot.record.state = previous?.state?.terminated
        ? { terminated: previous.state.terminated }
        : {
            terminated: {
              exitCode: 137,
              reason: 'ContainerStatusUnknown',
              message: 'The container could not be located when the pod was terminated',
            },
          };
    }
    this.#failure = { reason: 'ContainerStatusUnknown', message: 'The node was restarted while the pod ran' };
    this.#terminal = true;
    this.#markStatus();
    await this.#statusWriting;
    if (this.pod.metadata?.deletionTimestamp) await this.#finishDeletion();
  }

  #startDeadline(): NodeJS.Timeout | undefined {
    const seconds = this.pod.spec?.activeDeadlineSeconds;
    if (seconds === undefined) return undefined;
    const remaining = this.#startTime.getTime() + seconds * 1000 - Date.now();
    return setTimeout(
      () => {
        this.#failure = {
          reason: 'DeadlineExceeded',
          message: 'Pod was active on the node longer than the specified deadline',
        };
        this.#event({ type: 'Normal', reason: 'DeadlineExceeded', message: this.#failure.message });
        this.#requestStop(this.#specGrace());
        this.#wake();
      },
      Math.max(0, remaining),
    );
  }

  async #fetchObjects(): Promise<PodObjects> {
    const namespace = this.pod.metadata!.namespace ?? 'default';
    const refs = referencedObjects(this.pod);
    const objects: PodObjects = { configMaps: new Map(), secrets: new Map() };
    const missing = (err: unknown) => {
      if (statusCode(err) === 404) return undefined;
      throw err;
    };
    for (const name of refs.configMaps) {
      const cm = await this.#ctx.core.readNamespacedConfigMap({ name, namespace }).catch(missing);
      if (!cm) continue;
      const data: Record<string, Buffer> = {};
      for (const [k, v] of Object.entries(cm.data ?? {})) data[k] = Buffer.from(v);
      for (const [k, v] of Object.entries(cm.binaryData ?? {})) data[k] = Buffer.from(v, 'base64');
      objects.configMaps.set(name, data);
    }
    for (const name of refs.secrets) {
      const secret = await this.#ctx.core.readNamespacedSecret({ name, namespace }).catch(missing);
      if (!secret) continue;
      const data: Record<string, Buffer> = {};
      for (const [k, v] of Object.entries(secret.data ?? {})) data[k] = Buffer.from(v, 'base64');
      for (const [k, v] of Object.entries(secret.stringData ?? {})) data[k] = Buffer.from(v);
      objects.secrets.set(name, data);
    }
    return objects;
  }

  /** Volumes and the pod cgroup; waits (like kubelet's ContainerCreating) while a referenced object is missing. */
  async #prepare(): Promise<{ volumes: Map<string, PreparedVolume>; objects: PodObjects } | undefined> {
    const errors = podSpecErrors(this.pod);
    if (errors.length) {
      this.#failure = { reason: 'UnexpectedAdmissionError', message: errors.join('; ') };
      return undefined;
    }
    while (!this.#stopping.signal.aborted) {
      try {
        const objects = await this.#fetchObjects();
        const volumes = await prepareVolumes(this.pod, this.#dir, objects, this.#addresses());
        await ensureCgroup(podCgroupPath({ qosClass: this.#qos, podUID: this.uid, driver: this.#ctx.cgroupDriver }));
        this.#sandboxReady = true;
        return { volumes, objects };
      } catch (err) {
        const configError = err instanceof ContainerConfigError;
        if (!configError && statusCode(err) === undefined) throw err;
        for (const slot of this.#slots) {
          slot.record.state = {
            waiting: {
              reason: configError ? 'CreateContainerConfigError' : 'ContainerCreating',
              message: String((err as Error).message),
            },
          };
        }
        this.#markStatus();
        await this.#pause(configRetryMs);
      }
    }
    return undefined;
  }

  #addresses() {
    return { hostIP: this.#ctx.hostIP, podIP: this.#ctx.hostIP };
  }

  #initDone(): boolean {
    return this.#slots.filter((s) => s.init).every((s) => s.record.state.terminated?.exitCode === 0);
  }

  async #runInitContainers(prepared: { volumes: Map<string, PreparedVolume>; objects: PodObjects }): Promise<void> {
    for (const slot of this.#slots.filter((s) => s.init)) {
      await this.#supervise(slot, prepared);
      if (slot.record.state.terminated?.exitCode !== 0) return;
    }
    for (const slot of this.#slots.filter((s) => !s.init))
      slot.record.state = { waiting: { reason: 'ContainerCreating' } };
  }

  /** Sleeps until the timeout, a stop request or a wake-up. */
  async #pause(ms: number): Promise<void> {
    if (this.#stopping.signal.aborted) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #shouldRestart(slot: ContainerSlot, exitCode: number): boolean {
    const policy = this.pod.spec?.restartPolicy ?? 'Always';
    if (slot.init) return policy !== 'Never' && exitCode !== 0;
    return policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0);
  }

  /** One container through starts, exits and restarts until the restart policy or a stop request ends it. */
  async #supervise(
    slot: ContainerSlot,
    prepared: { volumes: Map<string, PreparedVolume>; objects: PodObjects },
  ): Promise<void> {
    for (let attempt = 0; !this.#stopping.signal.aborted; attempt++) {
      let exit: { exitCode: number; terminated: V1ContainerStateTerminated };
      try {
        exit = await this.#runOnce(slot, prepared);
      } catch (err) {
        if (!(err instanceof ContainerConfigError)) throw err;
        if (slot.record.state.waiting?.message !== err.message) {
          this.#event({
            type: 'Warning',
            reason: 'Failed',
            message: `Error: ${err.message}`,
            container: slot.spec.name,
          });
        }
        slot.record.state = { waiting: { reason: 'CreateContainerConfigError', message: err.message } };
        this.#markStatus();
        await this.#pause(configRetryMs);
        // The Secret or ConfigMap may exist by now.
        prepared.objects = await this.#fetchObjects().catch(() => prepared.objects);
        attempt--;
        continue;
      }
      slot.record.state = { terminated: exit.terminated };
      const restart = !this.#stopping.signal.aborted && this.#shouldRestart(slot, exit.exitCode);
      // Set before the status is computed: a pod about to restart a container stays Running.
      slot.record.restarting = restart;
      this.#markStatus();
      if (!restart) return;
      const backoff = attempt === 0 ? 0 : Math.min(backoffStartMs * 2 ** (attempt - 1), backoffMaxMs);
      slot.record.lastState = { terminated: exit.terminated };
      if (backoff > 0) {
        this.#event({
          type: 'Warning',
          reason: 'BackOff',
          message: `Back-off restarting failed container ${slot.spec.name} in pod ${this.pod.metadata?.name}_${this.pod.metadata?.namespace}(${this.uid})`,
          container: slot.spec.name,
        });
        slot.record.state = {
          waiting: {
            reason: 'CrashLoopBackOff',
            message: `back-off ${Math.round(backoff / 1000)}s restarting failed container=${slot.spec.name} pod=${this.pod.metadata?.name}_${this.pod.metadata?.namespace}(${this.uid})`,
          },
        };
        this.#markStatus();
        await this.#pause(backoff);
      }
      slot.record.restartCount++;
      slot.record.restarting = false;
    }
  }

  async #runOnce(
    slot: ContainerSlot,
    prepared: { volumes: Map<string, PreparedVolume>; objects: PodObjects },
  ): Promise<{ exitCode: number; terminated: V1ContainerStateTerminated }> {
    const { spec } = slot;
    let image;
    try {
      image = parseImage(spec.image ?? '');
    } catch (err) {
      throw new ContainerConfigError(`InvalidImageName: ${(err as Error).message}`);
    }
    const env = containerEnv(this.pod, spec, prepared.objects, this.#addresses(), this.#ctx.node);
    const defaultPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
    const fullEnv: Record<string, string> = {
      PATH: image.tracer ? `${tracerBinDir}:${defaultPath}` : defaultPath,
      HOSTNAME: this.#hostname(),
      ...env,
    };
    const expandAll = (list: string[] | undefined) => list?.map((s) => expand(s, env));
    const argv = containerArgv(image, expandAll(spec.command), expandAll(spec.args));
    const mounts = containerMounts(spec, prepared.volumes);
    if (image.tracer) {
      mounts.push({ source: this.#ctx.shimDir, destination: tracerBinDir, readOnly: true });
      mounts.push({ source: this.#ctx.checkoutDir, destination: this.#ctx.checkoutDir, readOnly: true });
    }

    const id = newContainerID();
    const containerDir = join(this.#dir, 'containers', spec.name);
    await mkdir(containerDir, { recursive: true });
    const terminationFile = join(containerDir, `${id.slice(0, 12)}-termination-log`);
    await writeFile(terminationFile, '');
    await chmod(terminationFile, 0o666);
    mounts.push({ source: terminationFile, destination: spec.terminationMessagePath || '/dev/termination-log' });

    const logDir = join(this.#dir, 'logs', spec.name);
    await mkdir(logDir, { recursive: true });
    const logPath = join(logDir, `${slot.record.restartCount}.log`);
    await rm(logPath, { force: true });
    const log = new CriLogWriter(logPath);
    slot.log = log;
    slot.logPaths[slot.record.restartCount] = logPath;

    const security = spec.securityContext ?? {};
    const podSecurity = this.pod.spec?.securityContext ?? {};
    const uid = security.runAsUser ?? podSecurity.runAsUser;
    const gid = security.runAsGroup ?? podSecurity.runAsGroup;
    const startedAt = new Date();
    const containerID = `containerd://${id}`;
    slot.record.containerID = containerID;
    this.#event({
      type: 'Normal',
      reason: 'Pulled',
      message: `Container image "${spec.image}" already present on machine`,
      container: spec.name,
    });
    let running: RunningContainer;
    try {
      running = await runContainer({
        id,
        stateRoot: join(this.#ctx.stateDir, 'runc'),
        bundleDir: join(this.#ctx.stateDir, 'bundles', id),
        args: argv,
        env: fullEnv,
        cwd: spec.workingDir || '/',
        hostname: this.#hostname(),
        cgroupsPath: cgroupPathFor({
          qosClass: this.#qos,
          podUID: this.uid,
          containerID: id,
          driver: this.#ctx.cgroupDriver,
        }),
        hostPID: this.pod.spec?.hostPID ?? false,
        privileged: security.privileged ?? false,
        readOnlyRootFilesystem: security.readOnlyRootFilesystem ?? false,
        capabilities: security.capabilities,
        ...(uid !== undefined ? { user: { uid, gid: gid ?? 0 } } : {}),
        mounts,
        resources: containerResources(spec),
        oomScoreAdj: oomScoreAdj(this.#qos, spec, this.#ctx.node.memoryBytes),
      });
    } catch (err) {
      log.close();
      // Whatever stopped the runtime (missing executable, bad capability, failed mount) is the container's start
      // error, as containerd reports it; the restart policy decides what follows.
      if (!(err instanceof ContainerStartError))
        this.#log().warn('container could not be created', { error: String(err) });
      this.#event({
        type: 'Warning',
        reason: 'Failed',
        message: `Error: ${String((err as Error).message ?? err)}`,
        container: spec.name,
      });
      const now = new Date();
      return {
        exitCode: 128,
        terminated: {
          exitCode: 128,
          reason: 'StartError',
          message: err instanceof Error ? err.message : String(err),
          startedAt: now,
          finishedAt: now,
          containerID,
        },
      };
    }
    slot.running = running;
    log.attach(running.stdout!, 'stdout');
    log.attach(running.stderr!, 'stderr');
    slot.record.state = { running: { startedAt } };
    this.#markStatus();
    this.#log().info('container started', { container: spec.name, containerID, hostPid: running.hostPid });
    this.#event({
      type: 'Normal',
      reason: 'Created',
      message: `Created container: ${spec.name}`,
      container: spec.name,
    });
    this.#event({ type: 'Normal', reason: 'Started', message: `Started container ${spec.name}`, container: spec.name });

    const exited = running.wait();
    const stopped = await Promise.race([
      exited.then(() => false),
      new Promise<boolean>((resolve) => {
        if (this.#stopping.signal.aborted) resolve(true);
        this.#stopping.signal.addEventListener('abort', () => resolve(true), { once: true });
      }),
    ]);
    if (stopped) {
      this.#event({
        type: 'Normal',
        reason: 'Killing',
        message: `Stopping container ${spec.name}`,
        container: spec.name,
      });
      await this.#terminate(running, exited);
    }
    const result: ContainerExit = await exited;
    const finishedAt = new Date();
    await logClosed(log);
    const file = await readFile(terminationFile).catch(() => Buffer.alloc(0));
    const fallback =
      file.length === 0 && spec.terminationMessagePolicy === 'FallbackToLogsOnError' && result.exitCode !== 0;
    const message = terminationMessage({
      file,
      policy: spec.terminationMessagePolicy,
      exitCode: result.exitCode,
      log: fallback ? criLogText(await readFile(logPath).catch(() => Buffer.alloc(0))) : '',
    });
    await running.delete();
    slot.running = undefined;
    this.#log().info('container exited', {
      container: spec.name,
      exitCode: result.exitCode,
      oomKilled: result.oomKilled,
    });
    return {
      exitCode: result.exitCode,
      terminated: {
        exitCode: result.exitCode,
        reason: terminatedReason(result),
        ...(message !== undefined ? { message } : {}),
        startedAt,
        finishedAt,
        containerID,
      },
    };
  }

  /** SIGTERM, up to the grace period, then SIGKILL to everything in the container. */
  async #terminate(running: RunningContainer, exited: Promise<ContainerExit>): Promise<void> {
    const grace = this.#graceSeconds;
    if (grace > 0) {
      await running.kill('SIGTERM').catch(() => undefined);
      const graceOver = new AbortController();
      const timeout = sleep(grace * 1000, false, { signal: graceOver.signal }).catch(() => false);
      const done = await Promise.race([exited.then(() => true), timeout]);
      graceOver.abort();
      if (done) return;
    }
    await running.kill('SIGKILL', { all: true }).catch(() => undefined);
  }

  #hostname(): string {
    return (this.pod.spec?.hostname ?? this.pod.metadata?.name ?? 'pod').slice(0, 63);
  }

  /** Schedules a status write; writes coalesce so the last state always wins. */
  #markStatus(): void {
    if (this.#removed) return;
    this.#statusDirty = true;
    this.#statusWriting ??= this.#writeStatusLoop().finally(() => (this.#statusWriting = undefined));
  }

  async #writeStatusLoop(): Promise<void> {
    while (this.#statusDirty && !this.#removed) {
      this.#statusDirty = false;
      const status = podStatus({
        pod: this.pod,
        initContainers: this.#slots.filter((s) => s.init).map((s) => s.record),
        containers: this.#slots.filter((s) => !s.init).map((s) => s.record),
        qosClass: this.#qos,
        hostIP: this.#ctx.hostIP,
        startTime: this.#startTime,
        now: new Date(),
        // Like kubelet, the phase turns terminal only once every container has stopped.
        ...(this.#failure && this.#terminal ? { failure: this.#failure } : {}),
        sandboxReady: this.#sandboxReady,
      });
      // A terminal phase is reported only after cleanup: the pod object may vanish as soon as it is written.
      if ((status.phase === 'Succeeded' || status.phase === 'Failed') && !this.#terminal) continue;
      const body = {
        status: { ...(toKubeJson(status) as object), ...(status.reason ? {} : { reason: null, message: null }) },
      };
      try {
        const updated = await this.#ctx.core.patchNamespacedPodStatus(
          { name: this.pod.metadata!.name!, namespace: this.pod.metadata!.namespace ?? 'default', body },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        if (updated.metadata?.uid === this.uid) this.pod = { ...this.pod, status: updated.status };
      } catch (err) {
        const code = statusCode(err);
        if (code === 404) return;
        if (code !== undefined && code >= 400 && code < 500 && code !== 409 && code !== 429) {
          // The API server refused this status for good; the next change writes a fresh one.
          this.#log().error('pod status update rejected', { error: String(err) });
          continue;
        }
        this.#log().warn('pod status update failed; retrying', { error: String(err) });
        this.#statusDirty = true;
        await sleep(1000);
      }
    }
  }

  /** The last step of a graceful deletion: the kubelet deletes with grace 0 once its containers are gone. */
  async #finishDeletion(): Promise<void> {
    if (this.#finishingDeletion || this.#removed) return;
    this.#finishingDeletion = true;
    await this.#statusWriting;
    for (let attempt = 0; attempt < 5 && !this.#removed; attempt++) {
      try {
        await this.#ctx.core.deleteNamespacedPod({
          name: this.pod.metadata!.name!,
          namespace: this.pod.metadata!.namespace ?? 'default',
          gracePeriodSeconds: 0,
          body: { gracePeriodSeconds: 0, preconditions: { uid: this.uid } },
        });
        return;
      } catch (err) {
        const code = statusCode(err);
        if (code === 404 || code === 409) return;
        this.#log().warn('could not finish pod deletion; retrying', { error: String(err) });
        await sleep(1000);
      }
    }
  }

  /** Removes what the pod left on disk (logs, volumes); called after the pod object is gone. */
  async purge(): Promise<void> {
    await this.done;
    await rm(this.#dir, { recursive: true, force: true });
  }

  /** The log stream `kubectl logs` asks for (the API server has checked the container name against the pod). */
  logs(options: PodLogOptions, signal: AbortSignal): Readable {
    const name = this.pod.metadata?.name;
    const { container } = options;
    const slot = this.#slots.find((s) => s.spec.name === container);
    if (!slot) throw new PodLogError(400, `container ${container} is not valid for pod ${name}`);
    const count = slot.record.restartCount;
    if (options.previous) {
      const path = slot.logPaths[count - 1];
      if (!path) throw new PodLogError(400, `previous terminated container "${container}" in pod "${name}" not found`);
      return readContainerLog(path, { ...options, follow: false, signal });
    }
    const path = slot.logPaths[count] ?? slot.logPaths[count - 1];
    if (!path) {
      const reason = slot.record.state.waiting?.reason ?? 'ContainerCreating';
      throw new PodLogError(400, `container "${container}" in pod "${name}" is waiting to start: ${reason}`);
    }
    return readContainerLog(path, { ...options, signal }, slot.logPaths[count] === path ? slot.log : undefined);
  }
}

/** Waits until the log writer has copied the last output of the container. */
async function logClosed(log: CriLogWriter): Promise<void> {
  if (log.closed) return;
  await new Promise<void>((resolve) => {
    log.once('closed', resolve);
    setTimeout(resolve, 2000).unref();
  });
}

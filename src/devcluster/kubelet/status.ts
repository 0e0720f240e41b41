import type {
  V1ContainerState,
  V1ContainerStateTerminated,
  V1ContainerStatus,
  V1Pod,
  V1PodCondition,
  V1PodStatus,
} from '@kubernetes/client-node';

import type { ContainerExit, QosClass } from '../runc.ts';

/** The byte limit kubelet applies to a termination message read from `terminationMessagePath`. */
const maxTerminationMessageBytes = 4096;
/** With FallbackToLogsOnError, at most this many bytes of the last 80 log lines become the message. */
const maxFallbackLogBytes = 2048;
const maxFallbackLogLines = 80;

export type Phase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

/** What the kubelet knows about one container, turned into a `V1ContainerStatus` by `containerStatus`. */
export interface ContainerRecord {
  name: string;
  image: string;
  imageID: string;
  containerID?: string;
  restartCount: number;
  state: V1ContainerState;
  lastState?: V1ContainerState;
  /** A restart is due (restartPolicy said so); the phase stays Running meanwhile. */
  restarting?: boolean;
}

export function terminatedReason(exit: Pick<ContainerExit, 'exitCode' | 'oomKilled'>): string {
  if (exit.oomKilled) return 'OOMKilled';
  return exit.exitCode === 0 ? 'Completed' : 'Error';
}

/**
 * The termination message as kubelet builds it: the last 4096 bytes of the file; with FallbackToLogsOnError and an
 * empty file after a failure, the tail of the container log (80 lines, 2048 bytes) instead.
 */
export function terminationMessage(input: {
  file: Buffer;
  policy: string | undefined;
  exitCode: number;
  /** The container's log as plain text; only read when the fallback applies. */
  log: string;
}): string | undefined {
  const fromFile = input.file.subarray(Math.max(0, input.file.length - maxTerminationMessageBytes)).toString('utf8');
  if (fromFile.length > 0) return fromFile;
  if (input.policy !== 'FallbackToLogsOnError' || input.exitCode === 0) return undefined;
  const lines = input.log.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const text = Buffer.from(lines.slice(-maxFallbackLogLines).join('\n'));
  const message = text.subarray(Math.max(0, text.length - maxFallbackLogBytes)).toString('utf8');
  return message || undefined;
}

function containerStatus(record: ContainerRecord): V1ContainerStatus {
  const running = record.state.running !== undefined;
  return {
    name: record.name,
    image: record.image,
    imageID: record.imageID,
    ...(record.containerID ? { containerID: record.containerID } : {}),
    ready: running,
    started: running,
    restartCount: record.restartCount,
    state: record.state,
    lastState: record.lastState ?? {},
  };
}

function terminated(record: ContainerRecord): V1ContainerStateTerminated | undefined {
  return record.state.terminated;
}

/** The pod phase from its containers, following kubelet's getPhase for the restart policies it supports. */
export function podPhase(
  restartPolicy: string | undefined,
  initContainers: ContainerRecord[],
  containers: ContainerRecord[],
): Phase {
  for (const init of initContainers) {
    const done = terminated(init);
    if (done?.exitCode === 0) continue;
    if (done && (restartPolicy ?? 'Always') === 'Never' && !init.restarting) return 'Failed';
    return 'Pending';
  }
  if (containers.some((c) => c.state.waiting && !c.restarting && c.restartCount === 0)) return 'Pending';
  if (containers.some((c) => c.state.running || c.restarting || c.state.waiting)) return 'Running';
  return containers.every((c) => terminated(c)?.exitCode === 0) ? 'Succeeded' : 'Failed';
}

/** Keeps lastTransitionTime when a condition's status did not change, as the API conventions require. */
function condition(
  previous: V1PodCondition[] | undefined,
  type: string,
  status: boolean,
  now: Date,
  reason?: string,
  message?: string,
): V1PodCondition {
  const value = status ? 'True' : 'False';
  const before = previous?.find((c) => c.type === type);
  return {
    type,
    status: value,
    lastProbeTime: null as unknown as undefined,
    lastTransitionTime:
      before && before.status === value && before.lastTransitionTime ? before.lastTransitionTime : now,
    ...(reason ? { reason } : {}),
    ...(message ? { message } : {}),
  };
}

export interface PodStatusInput {
  pod: V1Pod;
  initContainers: ContainerRecord[];
  containers: ContainerRecord[];
  qosClass: QosClass;
  hostIP: string;
  startTime: Date;
  now: Date;
  /** A pod-level verdict that overrides the phase, e.g. DeadlineExceeded. */
  failure?: { reason: string; message: string };
  /** Set once volumes and the pod cgroup exist (PodReadyToStartContainers). */
  sandboxReady: boolean;
}

export function podStatus(input: PodStatusInput): V1PodStatus {
  const { pod, now } = input;
  const previous = pod.status?.conditions;
  const phase: Phase = input.failure
    ? 'Failed'
    : podPhase(pod.spec?.restartPolicy, input.initContainers, input.containers);
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  const initialized = input.initContainers.every((c) => terminated(c)?.exitCode === 0);
  const unready = input.containers.filter((c) => !c.state.running).map((c) => c.name);
  const ready = !terminal && unready.length === 0;
  const notReadyReason = terminal ? 'PodCompleted' : 'ContainersNotReady';
  const notReadyMessage = terminal ? undefined : `containers with unready status: [${unready.join(' ')}]`;
  const pendingInit = input.initContainers.filter((c) => terminated(c)?.exitCode !== 0).map((c) => c.name);
  return {
    phase,
    conditions: [
      condition(previous, 'PodReadyToStartContainers', input.sandboxReady && !terminal, now),
      condition(
        previous,
        'Initialized',
        initialized,
        now,
        initialized ? undefined : 'ContainersNotInitialized',
        initialized ? undefined : `containers with incomplete status: [${pendingInit.join(' ')}]`,
      ),
      condition(previous, 'Ready', ready, now, ready ? undefined : notReadyReason, ready ? undefined : notReadyMessage),
      condition(
        previous,
        'ContainersReady',
        ready,
        now,
        ready ? undefined : notReadyReason,
        ready ? undefined : notReadyMessage,
      ),
      condition(previous, 'PodScheduled', true, now),
    ],
    hostIP: input.hostIP,
    hostIPs: [{ ip: input.hostIP }],
    podIP: input.hostIP,
    podIPs: [{ ip: input.hostIP }],
    startTime: input.startTime,
    qosClass: input.qosClass,
    ...(input.initContainers.length ? { initContainerStatuses: input.initContainers.map(containerStatus) } : {}),
    containerStatuses: input.containers.map(containerStatus),
    ...(input.failure ? { reason: input.failure.reason, message: input.failure.message } : {}),
  };
}

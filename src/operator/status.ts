import type { V1Pod } from '@kubernetes/client-node';
import type { ResultManifest } from '../runner/manifest.ts';
import { parseTracerResult } from './result.ts';
import type { Target } from './targets.ts';
import type {
  Artifact,
  Condition,
  ConditionType,
  Phase,
  ProfileSummary,
  TargetStatus,
  TraceJobObject,
  TraceJobStatus,
} from './types.ts';

/** A condition reason: ours (see Reason in types.ts) or a finer one the runner reported. */
type Reason = string;

/** Lines of the tracer's output kept in a failure message: enough to see the error, small enough for a status. */
const TAIL_LINES = 12;
const TAIL_BYTES = 1500;
const TOP_FRAMES = 10;

/**
 * Sets a condition the way metav1.Condition wants it: `lastTransitionTime` moves only when `status` flips, so
 * re-deriving the same state never changes the object (and never causes a write).
 */
export function setCondition(
  conditions: readonly Condition[],
  next: Omit<Condition, 'lastTransitionTime'> & { type: ConditionType },
  now: Date,
): Condition[] {
  const previous = conditions.find((c) => c.type === next.type);
  const lastTransitionTime =
    previous && previous.status === next.status ? previous.lastTransitionTime : now.toISOString();
  const updated: Condition = { ...next, lastTransitionTime };
  return previous ? conditions.map((c) => (c.type === next.type ? updated : c)) : [...conditions, updated];
}

type ConditionSpec = [ConditionType, Condition['status'], string, string];

function withConditions(job: TraceJobObject, specs: readonly ConditionSpec[], now: Date): Condition[] {
  let conditions = job.status?.conditions ?? [];
  for (const [type, status, reason, message] of specs) {
    conditions = setCondition(
      conditions,
      { type, status, reason, message, observedGeneration: job.metadata.generation },
      now,
    );
  }
  return conditions;
}

function base(job: TraceJobObject): TraceJobStatus {
  return { ...job.status, observedGeneration: job.metadata.generation };
}

/** A TraceJob that will never run: invalid spec, refused by policy, or nothing to trace. */
export function failedBeforeStart(job: TraceJobObject, reason: Reason, message: string, now: Date): TraceJobStatus {
  const accepted: ConditionSpec =
    reason === 'InvalidSpec' || reason === 'PolicyDenied'
      ? ['Accepted', 'False', reason, message]
      : ['Accepted', 'True', 'Accepted', 'the TraceJob is valid and allowed by policy'];
  const specs: ConditionSpec[] = [accepted];
  if (reason === 'TargetNotFound' || reason === 'TargetNotRunning' || reason === 'NodeNotReady') {
    specs.push(['TargetsResolved', 'False', reason, message]);
  }
  specs.push(['Running', 'False', reason, 'the trace did not start'], ['Complete', 'False', reason, message]);
  specs.push(['Failed', 'True', reason, message]);
  return {
    ...base(job),
    phase: 'Failed',
    conditions: withConditions(job, specs, now),
    completionTime: job.status?.completionTime ?? now.toISOString(),
    message,
  };
}

/** Not started yet, for a reason that may pass: targets still starting, a policy's concurrency limit. */
export function waitingToStart(
  job: TraceJobObject,
  reason: 'PolicyDenied' | 'TargetNotRunning' | 'NodeNotReady',
  message: string,
  now: Date,
): TraceJobStatus {
  const specs: ConditionSpec[] =
    reason === 'PolicyDenied'
      ? [['Accepted', 'False', reason, message]]
      : [
          ['Accepted', 'True', 'Accepted', 'the TraceJob is valid and allowed by policy'],
          ['TargetsResolved', 'False', reason, message],
        ];
  return { ...base(job), phase: 'Pending', conditions: withConditions(job, specs, now), message };
}

/** What the controller knows about the tracer pod of one node. */
export interface TracerPodObservation {
  node: string;
  name: string;
  /** Absent when the informer has not delivered it yet. */
  pod?: V1Pod;
  /** The pod was created and is confirmed gone (deleted by someone, evicted and removed). */
  gone?: boolean;
}

export interface TracingInput {
  targets: readonly Target[];
  /** Why some of a selector's pods were left out; shown in the message, not as targets. */
  skipped: readonly string[];
  /** Target pods seen deleted or replaced during the trace, by pod name. */
  lost: ReadonlyMap<string, string>;
  tracers: readonly TracerPodObservation[];
  startTime: string;
  /** After this the controller gives up on tracers that have not finished. */
  deadline: Date;
  /** A tracer pod Pending longer than this after creation fails the TraceJob (image pull, scheduling). */
  startTimeoutSeconds: number;
}

type TracerState =
  | { state: 'Pending'; message?: string }
  | { state: 'Running' }
  | { state: 'Succeeded'; result: ResultManifest }
  | { state: 'Failed'; reason: Reason; message: string; result?: ResultManifest };

/** The state of one tracer pod, read from what the kubelet reported. */
function tracerState(observation: TracerPodObservation, now: Date, startTimeoutSeconds: number): TracerState {
  const { pod, node } = observation;
  if (observation.gone) {
    return {
      state: 'Failed',
      reason: 'TracerFailed',
      message: `tracer pod ${observation.name} on node ${node} was deleted before it finished`,
    };
  }
  if (!pod) return { state: 'Pending' };
  const container = pod.status?.containerStatuses?.[0];
  const terminated = container?.state?.terminated;
  const result = terminated?.message ? parseTracerResult(terminated.message) : undefined;
  switch (pod.status?.phase) {
    case 'Running':
      return { state: 'Running' };
    case 'Succeeded':
      if (result?.state === 'Succeeded') return { state: 'Succeeded', result };
      if (result) return failedResult(node, result);
      return {
        state: 'Failed',
        reason: 'TracerFailed',
        message: `tracer on node ${node} exited without a result manifest${tailOf(terminated?.message)}`,
      };
    case 'Failed': {
      if (pod.status.reason === 'DeadlineExceeded') {
        return {
          state: 'Failed',
          reason: 'DeadlineExceeded',
          message: `tracer on node ${node} ran past its deadline (activeDeadlineSeconds ${pod.spec?.activeDeadlineSeconds}) and was stopped`,
          result,
        };
      }
      if (result?.state === 'Failed') return failedResult(node, result);
      const how = terminated
        ? `exited with code ${terminated.exitCode}${terminated.reason ? ` (${terminated.reason})` : ''}`
        : `failed (${pod.status.reason ?? 'no reason given'}${pod.status.message ? `: ${pod.status.message}` : ''})`;
      return {
        state: 'Failed',
        reason: 'TracerFailed',
        message: `tracer on node ${node} ${how}${tailOf(terminated?.message)}`,
      };
    }
    default: {
      const waiting = container?.state?.waiting;
      const detail = waiting?.reason ? `${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}` : undefined;
      const created = Date.parse(pod.metadata?.creationTimestamp as unknown as string);
      if (Number.isFinite(created) && now.getTime() - created > startTimeoutSeconds * 1000) {
        return {
          state: 'Failed',
          reason: 'TracerFailed',
          message: `tracer pod ${observation.name} on node ${node} did not start within ${startTimeoutSeconds}s${detail ? ` (${detail})` : ''}`,
        };
      }
      return { state: 'Pending', message: detail };
    }
  }
}

function failedResult(node: string, result: ResultManifest): TracerState {
  return {
    state: 'Failed',
    reason: result.reason ?? 'TracerFailed',
    message: `tracer on node ${node} failed: ${result.message ?? result.reason ?? 'no message'}`,
    result,
  };
}

/** The last lines of the tracer's output (the kubelet falls back to the log tail when no message was written). */
function tailOf(output: string | undefined): string {
  if (!output?.trim()) return '';
  const lines = output.trimEnd().split('\n').slice(-TAIL_LINES).join('\n');
  const bounded = lines.length > TAIL_BYTES ? `…${lines.slice(-TAIL_BYTES)}` : lines;
  return `; output:\n${bounded}`;
}

/** Status while and after tracing, from the tracer pods. */
export function tracingStatus(job: TraceJobObject, input: TracingInput, now: Date): TraceJobStatus {
  const states = new Map(input.tracers.map((t) => [t.node, tracerState(t, now, input.startTimeoutSeconds)]));
  const all = [...states.values()];
  const finished = all.every((s) => s.state === 'Succeeded' || s.state === 'Failed');
  const overdue = !finished && now.getTime() > input.deadline.getTime();
  const failures = [...states.entries()].filter(
    (e): e is [string, Extract<TracerState, { state: 'Failed' }>] => e[1].state === 'Failed',
  );

  let phase: Phase;
  let message: string;
  let failureReason: Reason | undefined;
  if (overdue) {
    phase = 'Failed';
    failureReason = 'DeadlineExceeded';
    message = `the trace did not finish by ${input.deadline.toISOString()}; its tracer pods were stopped`;
  } else if (finished && failures.length === 0) {
    phase = 'Succeeded';
    message = `traced ${input.targets.length} target(s) on ${states.size} node(s)`;
  } else if (finished) {
    phase = 'Failed';
    failureReason = failures[0]![1].reason;
    message = failures.map(([, f]) => f.message).join('\n');
  } else if (all.some((s) => s.state === 'Running')) {
    phase = 'Running';
    message = `tracing ${input.targets.length} target(s) on ${states.size} node(s)`;
  } else {
    phase = 'Pending';
    const waiting = all.map((s) => (s.state === 'Pending' ? s.message : undefined)).find(Boolean);
    message = `waiting for ${states.size} tracer pod(s) to start${waiting ? ` (${waiting})` : ''}`;
  }
  if (input.skipped.length) message += `\nnot traced: ${input.skipped.join('; ')}`;

  const specs: ConditionSpec[] = [
    ['Accepted', 'True', 'Accepted', 'the TraceJob is valid and allowed by policy'],
    ['TargetsResolved', 'True', 'TargetsResolved', `${input.targets.length} target(s) found`],
  ];
  if (phase === 'Running') specs.push(['Running', 'True', 'Tracing', message]);
  else if (phase === 'Pending') specs.push(['Running', 'False', 'TracerPending', message]);
  else specs.push(['Running', 'False', phase === 'Succeeded' ? 'Completed' : failureReason!, 'the trace ended']);
  if (phase === 'Succeeded')
    specs.push(['Complete', 'True', 'Completed', message], ['Failed', 'False', 'Completed', message]);
  else if (phase === 'Failed')
    specs.push(['Complete', 'False', failureReason!, message], ['Failed', 'True', failureReason!, message]);

  const results = [...states.entries()].flatMap(([node, s]) =>
    s.state === 'Succeeded' || (s.state === 'Failed' && s.result) ? [{ node, result: s.result! }] : [],
  );
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  const status: TraceJobStatus = {
    ...base(job),
    phase,
    conditions: withConditions(job, specs, now),
    targets: targetStatuses(input, states),
    startTime: input.startTime,
    message,
  };
  const artifacts = results.flatMap(({ node, result }) => artifactsOf(node, result));
  if (artifacts.length) status.artifacts = artifacts;
  const summary = mergeSummaries(results.map((r) => r.result.summary).filter((s): s is ProfileSummary => !!s));
  if (summary) status.summary = summary;
  if (terminal) status.completionTime = job.status?.completionTime ?? now.toISOString();
  return status;
}

function targetStatuses(input: TracingInput, states: ReadonlyMap<string, TracerState>): TargetStatus[] {
  return input.targets.map((t) => {
    const s = states.get(t.node);
    const reported = s && 'result' in s ? s.result?.targets.find((r) => r.pod === t.pod) : undefined;
    const lost = input.lost.get(t.pod);
    const state: TargetStatus['state'] =
      reported?.state ??
      (s?.state === 'Succeeded' ? 'Succeeded' : s?.state === 'Failed' ? 'Failed' : (s?.state ?? 'Pending'));
    const status: TargetStatus = {
      namespace: t.namespace,
      pod: t.pod,
      podUID: t.podUID,
      container: t.container,
      containerID: t.containerID,
      node: t.node,
      qosClass: t.qosClass as TargetStatus['qosClass'],
      state,
    };
    if (reported?.pids?.length) status.pids = reported.pids;
    const message = [lost, reported?.message].filter(Boolean).join('; ');
    if (message) status.message = message;
    return status;
  });
}

function artifactsOf(node: string, result: ResultManifest): Artifact[] {
  return result.artifacts.map((a) => ({ ...a, node: a.node ?? node }));
}

/** Top frames over all nodes, each node weighted by its sample count. */
export function mergeSummaries(summaries: readonly ProfileSummary[]): ProfileSummary | undefined {
  if (summaries.length === 0) return undefined;
  if (summaries.length === 1) return summaries[0];
  const samples = summaries.reduce((n, s) => n + s.samples, 0);
  const frames = new Map<string, { self: number; total: number }>();
  for (const s of summaries) {
    for (const f of s.topFrames ?? []) {
      const acc = frames.get(f.frame) ?? { self: 0, total: 0 };
      acc.self += f.self * s.samples;
      acc.total += f.total * s.samples;
      frames.set(f.frame, acc);
    }
  }
  const topFrames = [...frames.entries()]
    .map(([frame, f]) => ({ frame, self: samples ? f.self / samples : 0, total: samples ? f.total / samples : 0 }))
    .sort((a, b) => b.self - a.self || a.frame.localeCompare(b.frame))
    .slice(0, TOP_FRAMES);
  return { samples, topFrames };
}

/** Whether two statuses say the same thing; key order does not matter. */
export function sameStatus(a: TraceJobStatus | undefined, b: TraceJobStatus | undefined): boolean {
  return canonical(a ?? {}) === canonical(b ?? {});
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>)
            .filter(([, x]) => x !== undefined)
            .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)),
        )
      : v,
  );
}

export function isFinished(status: TraceJobStatus | undefined): boolean {
  return status?.phase === 'Succeeded' || status?.phase === 'Failed';
}

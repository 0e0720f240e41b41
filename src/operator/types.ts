import type { V1ObjectMeta } from '@kubernetes/client-node';
import type { TraceJobStatus } from '../api/tracejob.ts';

export type { Artifact, Condition, Phase, ProfileSummary, TargetStatus, TraceJobStatus } from '../api/tracejob.ts';

/**
 * A TraceJob as the informer delivers it, before validation. The spec stays `unknown` to the I/O layer: only
 * `validateTraceJob` turns it into a typed spec, so nothing unchecked reaches a pod.
 */
export interface TraceJobObject {
  apiVersion?: string;
  kind?: string;
  metadata: V1ObjectMeta & { name: string; namespace: string; uid: string };
  spec?: unknown;
  status?: TraceJobStatus;
}

export type ConditionType = 'Accepted' | 'TargetsResolved' | 'Running' | 'Complete' | 'Failed';

/** Why a TraceJob did not trace, as condition reasons; the runner may report finer ones (NoMatchingProcess...). */
export type Reason =
  | 'TargetNotFound'
  | 'TargetNotRunning'
  | 'NodeNotReady'
  | 'PolicyDenied'
  | 'TracerFailed'
  | 'DeadlineExceeded'
  | 'UploadFailed'
  | 'InvalidSpec';

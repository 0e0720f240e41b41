import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';

import type { Logger } from '../../log.ts';
import { kubeTime } from './api.ts';

export interface PodEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  /** `spec.containers{name}` for container events, as kubelet writes them. */
  container?: string;
  component?: 'kubelet' | 'default-scheduler';
}

/**
 * Records a core/v1 Event about a pod, so `kubectl describe pod` and `kubectl get events` show what the kubelet
 * did. Best effort, like the real event recorder: a failed write is logged, never retried, never blocks the pod.
 */
export function recordPodEvent(core: CoreV1Api, nodeName: string, logger: Logger, pod: V1Pod, event: PodEvent): void {
  const namespace = pod.metadata?.namespace ?? 'default';
  const name = pod.metadata?.name ?? '';
  const now = new Date();
  const component = event.component ?? 'kubelet';
  const containerIndex = event.container
    ? (pod.spec?.containers ?? []).findIndex((c) => c.name === event.container)
    : -1;
  const fieldPath = event.container
    ? `spec.${containerIndex >= 0 ? 'containers' : 'initContainers'}{${event.container}}`
    : undefined;
  void core
    .createNamespacedEvent({
      namespace,
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: `${name}.${process.hrtime.bigint().toString(16)}`, namespace },
        involvedObject: {
          apiVersion: 'v1',
          kind: 'Pod',
          namespace,
          name,
          uid: pod.metadata?.uid,
          ...(fieldPath ? { fieldPath } : {}),
        },
        type: event.type,
        reason: event.reason,
        message: event.message,
        source: component === 'kubelet' ? { component, host: nodeName } : { component },
        reportingComponent: component,
        reportingInstance: component === 'kubelet' ? nodeName : '',
        firstTimestamp: kubeTime(now) as unknown as Date,
        lastTimestamp: kubeTime(now) as unknown as Date,
        count: 1,
      },
    })
    .catch((err: unknown) => logger.debug('could not record event', { reason: event.reason, error: String(err) }));
}

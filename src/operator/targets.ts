import type { V1Node, V1Pod } from '@kubernetes/client-node';

const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';

/** A container the tracer can attach to: running, on a Ready node, with the IDs the runner needs to find it. */
export interface Target {
  namespace: string;
  pod: string;
  podUID: string;
  container: string;
  containerID: string;
  node: string;
  qosClass: string;
}

export interface TargetProblem {
  pod: string;
  reason: 'TargetNotFound' | 'TargetNotRunning' | 'NodeNotReady';
  message: string;
}

export interface TargetQuery {
  namespace: string;
  /** Exactly one of pod / selector was set; for a selector the caller passes the pods it listed. */
  pod?: string;
  container?: string;
  maxTargets: number;
}

export interface Resolution {
  targets: Target[];
  problems: TargetProblem[];
  /** Matching pods left out because of maxTargets. */
  omitted: number;
}

/**
 * Which containers to trace, from the pods the query found and the nodes they run on (`undefined`: node not found).
 * Pods are taken in name order so the same cluster state always yields the same targets.
 */
export function resolveTargets(
  query: TargetQuery,
  pods: readonly V1Pod[],
  nodes: ReadonlyMap<string, V1Node | undefined>,
): Resolution {
  const targets: Target[] = [];
  const problems: TargetProblem[] = [];
  if (pods.length === 0) {
    problems.push({
      pod: query.pod ?? '',
      reason: 'TargetNotFound',
      message: query.pod
        ? `pod "${query.pod}" not found in namespace "${query.namespace}"`
        : `no pod in namespace "${query.namespace}" matches spec.target.selector`,
    });
    return { targets, problems, omitted: 0 };
  }
  const sorted = [...pods].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  let omitted = 0;
  for (const pod of sorted) {
    const outcome = targetOf(query, pod, nodes);
    if ('reason' in outcome) problems.push(outcome);
    else if (targets.length < query.maxTargets) targets.push(outcome);
    else omitted++;
  }
  return { targets, problems, omitted };
}

function targetOf(
  query: TargetQuery,
  pod: V1Pod,
  nodes: ReadonlyMap<string, V1Node | undefined>,
): Target | TargetProblem {
  const name = pod.metadata?.name ?? '';
  const containers = pod.spec?.containers ?? [];
  const wanted =
    query.container ?? pod.metadata?.annotations?.[DEFAULT_CONTAINER_ANNOTATION] ?? containers[0]?.name ?? '';
  if (!containers.some((c) => c.name === wanted)) {
    return {
      pod: name,
      reason: 'TargetNotFound',
      message: `pod "${name}" has no container "${wanted}"; its containers: ${containers.map((c) => c.name).join(', ')}`,
    };
  }
  if (pod.metadata?.deletionTimestamp) {
    return { pod: name, reason: 'TargetNotRunning', message: `pod "${name}" is being deleted` };
  }
  const phase = pod.status?.phase ?? 'Pending';
  if (phase !== 'Running') {
    return { pod: name, reason: 'TargetNotRunning', message: `pod "${name}" is ${phase}, not Running` };
  }
  const status = pod.status?.containerStatuses?.find((c) => c.name === wanted);
  if (!status?.state?.running || !status.containerID) {
    const waiting = status?.state?.waiting?.reason ?? (status?.state?.terminated ? 'terminated' : 'not started');
    return {
      pod: name,
      reason: 'TargetNotRunning',
      message: `container "${wanted}" of pod "${name}" is not running (${waiting})`,
    };
  }
  const nodeName = pod.spec?.nodeName ?? '';
  const node = nodes.get(nodeName);
  if (!node || !isReady(node)) {
    return {
      pod: name,
      reason: 'NodeNotReady',
      message: node
        ? `node "${nodeName}" of pod "${name}" is not Ready`
        : `node "${nodeName}" of pod "${name}" was not found`,
    };
  }
  return {
    namespace: query.namespace,
    pod: name,
    podUID: pod.metadata?.uid ?? '',
    container: wanted,
    containerID: status.containerID,
    node: nodeName,
    qosClass: pod.status?.qosClass ?? 'BestEffort',
  };
}

export function isReady(node: V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** The nodes a set of pods runs on, for the caller to fetch before `resolveTargets`. */
export function nodesOf(pods: readonly V1Pod[]): string[] {
  return [...new Set(pods.map((p) => p.spec?.nodeName).filter((n): n is string => Boolean(n)))].sort();
}

import type { V1Pod, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { OutputFormat, ProcessFilter, TracerSpec } from '../api/tracejob.ts';
import { RunnerPlanSchema, type RunnerPlan } from '../runner/plan.ts';
import { credentialEnvVars, type SinkConfig } from '../storage/config.ts';
import type { OperatorConfig } from './config.ts';
import {
  GENERATION_ANNOTATION,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  NAME_ANNOTATION,
  NAMESPACE_ANNOTATION,
  NODE_ANNOTATION,
  UID_LABEL,
  tracerPodName,
} from './names.ts';
import type { Target } from './targets.ts';

export const PLAN_ENV = 'TRACEJOB_PLAN';
const TERMINATION_MESSAGE_PATH = '/dev/termination-log';
const RUNNER_CONTAINER = 'runner';

/** What the tracer pod needs from a TraceJob whose spec passed validation. */
export interface TraceJobForPods {
  namespace: string;
  name: string;
  uid: string;
  generation: number;
  /** `spec.tracer`, validated, with a bpftrace `programFrom` already replaced by the program's text. */
  tracer: TracerSpec;
  process?: ProcessFilter;
  durationSeconds: number;
  outputs: OutputFormat[];
  storage: { name: string; config: SinkConfig };
}

/**
 * The runner plan for one node, checked against the runner's own schema: a plan the runner would refuse must fail
 * here, in the controller, rather than in a privileged pod on a production node.
 */
function runnerPlan(job: TraceJobForPods, node: string, targets: readonly Target[]): RunnerPlan {
  return RunnerPlanSchema.parse({
    traceJob: { namespace: job.namespace, name: job.name, uid: job.uid },
    node,
    targets: targets
      .filter((t) => t.node === node)
      .map((t) => ({
        namespace: t.namespace,
        pod: t.pod,
        podUID: t.podUID,
        container: t.container,
        containerID: t.containerID,
        qosClass: t.qosClass,
      })),
    tracer: job.tracer,
    ...(job.process ? { process: job.process } : {}),
    durationSeconds: job.durationSeconds,
    outputs: job.outputs,
    storage: job.storage.config,
  });
}

/**
 * Tracers that only ptrace the target need no more than CAP_SYS_PTRACE (and reading its files); everything that
 * loads BPF, opens perf events or writes tracefs needs a privileged container.
 */
const PTRACE_ONLY = new Set(['strace', 'gdb']);

/** Host paths the runner reads: kernel interfaces, module and header trees for BPF, and where results go locally. */
function hostMounts(sink: SinkConfig): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const paths: { name: string; path: string; readOnly: boolean }[] = [
    { name: 'sys', path: '/sys', readOnly: true },
    // tracefs and debugfs must be writable for ftrace and kprobes, so they are mounted apart from the read-only /sys.
    { name: 'tracefs', path: '/sys/kernel/tracing', readOnly: false },
    { name: 'debugfs', path: '/sys/kernel/debug', readOnly: false },
    { name: 'modules', path: '/lib/modules', readOnly: true },
    { name: 'usr-src', path: '/usr/src', readOnly: true },
  ];
  if (sink.type === 'local') paths.push({ name: 'results', path: sink.directory, readOnly: false });
  return {
    volumes: paths.map((p) => ({
      name: p.name,
      hostPath: { path: p.path, ...(p.name === 'results' ? { type: 'DirectoryOrCreate' } : {}) },
    })),
    mounts: paths.map((p) => ({ name: p.name, mountPath: p.path, readOnly: p.readOnly })),
  };
}

/** What admission decided that the status reports later: which policy admitted the TraceJob, what was left out. */
export interface AdmissionRecord {
  policy?: string;
  skipped: string[];
}

const RECORD_ANNOTATION = 'tracejob.dev/admission';

/** One tracer pod per node that has targets, in the operator's namespace. */
export function desiredTracerPods(
  job: TraceJobForPods,
  targets: readonly Target[],
  config: OperatorConfig,
  record: AdmissionRecord = { skipped: [] },
): V1Pod[] {
  const nodes = [...new Set(targets.map((t) => t.node))].sort();
  const bounded: AdmissionRecord = {
    ...(record.policy ? { policy: record.policy } : {}),
    skipped: record.skipped.slice(0, 10).map((m) => m.slice(0, 300)),
  };
  return nodes.map((node) => {
    const pod = tracerPod(job, node, runnerPlan(job, node, targets), config);
    pod.metadata!.annotations![RECORD_ANNOTATION] = JSON.stringify(bounded);
    return pod;
  });
}

export function recordOf(pod: V1Pod): AdmissionRecord | undefined {
  const text = pod.metadata?.annotations?.[RECORD_ANNOTATION];
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as AdmissionRecord;
    return {
      policy: typeof value.policy === 'string' ? value.policy : undefined,
      skipped: Array.isArray(value.skipped) ? value.skipped.map(String) : [],
    };
  } catch {
    return undefined;
  }
}

/** The targets a tracer pod's plan names; empty when the plan does not parse (never ours to trust then). */
export function targetsOfTracerPod(pod: V1Pod): Target[] {
  const text = pod.spec?.containers?.[0]?.env?.find((e) => e.name === PLAN_ENV)?.value;
  const parsed = text ? RunnerPlanSchema.safeParse(safeJson(text)) : undefined;
  if (!parsed?.success) return [];
  const plan = parsed.data;
  return plan.targets.map((t) => ({
    namespace: t.namespace,
    pod: t.pod,
    podUID: t.podUID,
    container: t.container,
    containerID: t.containerID,
    node: plan.node,
    qosClass: t.qosClass ?? 'BestEffort',
  }));
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function tracerPod(job: TraceJobForPods, node: string, plan: RunnerPlan, config: OperatorConfig): V1Pod {
  const { volumes, mounts } = hostMounts(job.storage.config);
  const ptraceOnly = PTRACE_ONLY.has(job.tracer.type);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: tracerPodName(job.name, job.uid, node),
      namespace: config.tracerNamespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [UID_LABEL]: job.uid, 'app.kubernetes.io/name': 'tracejob-tracer' },
      annotations: {
        ...config.tracerPodAnnotations,
        [NAMESPACE_ANNOTATION]: job.namespace,
        [NAME_ANNOTATION]: job.name,
        [NODE_ANNOTATION]: node,
        [GENERATION_ANNOTATION]: String(job.generation),
      },
    },
    spec: {
      // Pinned by name: the scheduler is bypassed, so a cordoned or full node still gets its tracer.
      nodeName: node,
      nodeSelector: Object.keys(config.nodeSelector).length ? config.nodeSelector : undefined,
      tolerations: config.tolerations,
      hostPID: true,
      restartPolicy: 'Never',
      activeDeadlineSeconds: Math.ceil(job.durationSeconds) + config.deadlineMarginSeconds,
      terminationGracePeriodSeconds: 30,
      serviceAccountName: config.tracerServiceAccount,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      imagePullSecrets: config.imagePullSecrets.length ? config.imagePullSecrets.map((name) => ({ name })) : undefined,
      containers: [
        {
          name: RUNNER_CONTAINER,
          image: config.tracerImage,
          imagePullPolicy: config.imagePullPolicy,
          command: ['tracejob', 'runner'],
          env: [{ name: PLAN_ENV, value: JSON.stringify(plan) }, ...credentialEnvVars(job.storage.config)],
          resources: config.tracerResources,
          securityContext: ptraceOnly
            ? {
                privileged: false,
                allowPrivilegeEscalation: false,
                capabilities: { drop: ['ALL'], add: ['SYS_PTRACE', 'DAC_READ_SEARCH'] },
              }
            : { privileged: true },
          // Parents before children (as containerd sorts them), so /tmp cannot hide a results directory below it.
          volumeMounts: [...mounts, { name: 'scratch', mountPath: '/tmp' }].sort(
            (a, b) => a.mountPath.split('/').length - b.mountPath.split('/').length,
          ),
          terminationMessagePath: TERMINATION_MESSAGE_PATH,
          terminationMessagePolicy: 'FallbackToLogsOnError',
        },
      ],
      volumes: [...volumes, { name: 'scratch', emptyDir: { sizeLimit: '1Gi' } }],
    },
  };
}

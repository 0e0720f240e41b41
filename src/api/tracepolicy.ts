import { z } from 'zod';
import { formatIssues } from './errors.ts';
import { DNS_LABEL, duration, enumOf, intIn, labelSelector, parseDuration } from './common.ts';
import { TOOLS, TOOL_NAMES } from './tools.ts';
import {
  API_VERSION,
  BPFTRACE_SCRIPTS,
  MAX_DURATION_SECONDS,
  MAX_TARGETS_LIMIT,
  OUTPUT_FORMATS,
  TRACER_TYPES,
  defaultOutputs,
  type TraceJob,
  type ValidationResult,
} from './tracejob.ts';
import { selectorMatches } from './selector.ts';

export const TRACEPOLICY_KIND = 'TracePolicy';
export const TRACEPOLICY_PLURAL = 'tracepolicies';
export const TRACEPOLICY_SINGULAR = 'tracepolicy';
export const TRACEPOLICY_SHORT_NAMES = ['tpol'];

const uniqueList = <T extends readonly [string, ...string[]]>(values: T, description: string) =>
  z
    .array(enumOf(values))
    .max(values.length, { error: `accepted: each of ${values.join(', ')} at most once` })
    .describe(description)
    .meta({ 'x-kubernetes-list-type': 'set' });

const namespaceSelector = labelSelector('spec.namespaceSelector', { of: 'namespace', matchesAll: 'allow' }).describe(
  'Namespaces the policy applies to. {} selects every namespace; kubernetes.io/metadata.name selects one by name.',
);

export const TracePolicySpecSchema = z
  .strictObject({
    namespaceSelector,
    priority: intIn(0, 1000)
      .default(0)
      .describe(
        'When several policies select a namespace, the one with the highest priority decides alone (ties: the ' +
          'first name in alphabetical order). Accepted: 0..1000.',
      ),
    allowedTracers: uniqueList(TRACER_TYPES, `Tracer types allowed. Accepted: ${TRACER_TYPES.join(', ')}.`).default([
      'profile',
    ]),
    allowedTools: uniqueList(TOOL_NAMES, 'libbpf-tools programs allowed for type tool. Default: none.').default([]),
    allowedBpftraceScripts: uniqueList(
      BPFTRACE_SCRIPTS,
      'Scripts shipped with bpftrace allowed for type bpftrace (bpftrace.script). Default: none.',
    ).default([]),
    allowCustomBpftrace: z
      .boolean()
      .default(false)
      .describe(
        'Allow bpftrace programs written by the TraceJob author (program, programFrom). bpftrace can read ' +
          'kernel memory, so this amounts to root on the node. Default: false.',
      ),
    maxDuration: duration('spec.maxDuration', 1, MAX_DURATION_SECONDS)
      .default('5m')
      .describe('Longest spec.duration allowed. Accepted: 1s..1h. Default: 5m.'),
    maxConcurrentPerNamespace: intIn(1, 1000)
      .default(2)
      .describe('TraceJobs that may run at once in one namespace; further ones wait. Default: 2.'),
    maxConcurrentPerNode: intIn(1, 1000)
      .default(1)
      .describe(
        'TraceJobs that may trace on one node at once (counting those of every namespace); further ones wait. Default: 1.',
      ),
    allowedOutputs: uniqueList(OUTPUT_FORMATS, 'Artifact formats allowed. Default: all.').default([...OUTPUT_FORMATS]),
    allowedStorageProfiles: z
      .array(z.string().max(63).regex(DNS_LABEL))
      .max(64)
      .default([])
      .describe(
        "Storage profiles a TraceJob may name in spec.storage. A TraceJob without spec.storage uses the operator's " +
          'default profile, which is always allowed. Default: none besides the default.',
      )
      .meta({ 'x-kubernetes-list-type': 'set' }),
    allowKernelStacks: z
      .boolean()
      .default(false)
      .describe(
        'Allow kernel frames in stacks (profile/perf kernelStacks, and tools that record kernel stacks such as ' +
          'offcputime). Default: false.',
      ),
    maxTargets: intIn(1, MAX_TARGETS_LIMIT)
      .default(10)
      .describe(
        `Most pods one TraceJob may trace; a larger spec.target.maxTargets is lowered to this. Accepted: 1..${MAX_TARGETS_LIMIT}.`,
      ),
  })
  .describe('What TraceJobs in the selected namespaces may do.');

export const TracePolicySchema = z
  .object({
    apiVersion: z.literal(API_VERSION, { error: `accepted: ${API_VERSION}` }),
    kind: z.literal(TRACEPOLICY_KIND, { error: `accepted: ${TRACEPOLICY_KIND}` }),
    metadata: z.looseObject({ name: z.string().optional() }).describe('Standard object metadata.'),
    spec: TracePolicySpecSchema,
  })
  .describe('Cluster-wide rules for what TraceJobs may do, per namespace.');

export type TracePolicySpec = z.output<typeof TracePolicySpecSchema>;
export type TracePolicy = z.output<typeof TracePolicySchema>;

export function validateTracePolicy(obj: unknown): ValidationResult<TracePolicy> {
  const parsed = TracePolicySchema.safeParse(obj);
  if (!parsed.success) return { ok: false, errors: formatIssues(parsed.error.issues, TracePolicySchema) };
  return { ok: true, value: parsed.data };
}

/** Running work the decision depends on; the TraceJob being decided is not counted. */
export interface ActiveCounts {
  /** Active (admitted, not finished) TraceJobs in the TraceJob's namespace. */
  inNamespace: number;
  /** Active TraceJobs per node, whatever their namespace: tracers on one node compete for the same CPUs and kernel. */
  perNode?: Readonly<Record<string, number>>;
  /** Nodes the TraceJob's targets run on, once resolved. */
  targetNodes?: readonly string[];
}

/** The policy fields a decision can name. */
export type PolicyRule =
  | 'namespaceSelector'
  | 'allowedTracers'
  | 'allowedTools'
  | 'allowedBpftraceScripts'
  | 'allowCustomBpftrace'
  | 'maxDuration'
  | 'maxConcurrentPerNamespace'
  | 'maxConcurrentPerNode'
  | 'allowedOutputs'
  | 'allowedStorageProfiles'
  | 'allowKernelStacks';

export type PolicyDecision =
  | {
      allowed: true;
      policy: string;
      /** spec.target.maxTargets lowered to the policy's maxTargets. */
      maxTargets: number;
    }
  | {
      allowed: false;
      policy?: string;
      rule: PolicyRule;
      message: string;
      /** Concurrency limits pass on their own once other TraceJobs finish: wait, do not fail. */
      retryable: boolean;
    };

/** The policy that decides for a namespace: the highest priority among those selecting it, then the first name. */
export function decidingPolicy(
  policies: readonly TracePolicy[],
  namespaceLabels: Readonly<Record<string, string>>,
): TracePolicy | undefined {
  return policies
    .filter((p) => selectorMatches(p.spec.namespaceSelector, namespaceLabels))
    .sort(
      (a, b) => b.spec.priority - a.spec.priority || (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''),
    )[0];
}

/**
 * Decides whether a TraceJob (validated, so defaults are filled in) may run in its namespace. Pure: the controller
 * supplies the policies, the namespace's labels and the counts of running work.
 */
export function evaluatePolicy(
  policies: readonly TracePolicy[],
  namespaceLabels: Readonly<Record<string, string>>,
  traceJob: TraceJob,
  activeCounts: ActiveCounts,
): PolicyDecision {
  const namespace = traceJob.metadata.namespace ?? namespaceLabels['kubernetes.io/metadata.name'] ?? 'default';
  const policy = decidingPolicy(policies, namespaceLabels);
  if (!policy) {
    return {
      allowed: false,
      rule: 'namespaceSelector',
      retryable: false,
      message:
        `no TracePolicy selects namespace "${namespace}", so nothing may trace there; ask a cluster administrator to ` +
        `create a TracePolicy whose spec.namespaceSelector matches it, for example matchLabels: ` +
        `{"kubernetes.io/metadata.name": "${namespace}"}`,
    };
  }
  const name = policy.metadata.name ?? '(unnamed)';
  const p = policy.spec;
  const deny = (rule: PolicyRule, message: string, retryable = false): PolicyDecision => ({
    allowed: false,
    policy: name,
    rule,
    retryable,
    message: `TracePolicy "${name}" rule ${rule}: ${message}`,
  });
  const { spec } = traceJob;
  const { tracer } = spec;

  if (!p.allowedTracers.includes(tracer.type)) {
    return deny(
      'allowedTracers',
      `tracer type ${tracer.type} is not allowed; allowed: ${listOrNone(p.allowedTracers)}`,
    );
  }
  if (tracer.type === 'tool' && tracer.tool && !p.allowedTools.includes(tracer.tool.name)) {
    return deny('allowedTools', `tool ${tracer.tool.name} is not allowed; allowed: ${listOrNone(p.allowedTools)}`);
  }
  if (tracer.type === 'bpftrace' && tracer.bpftrace) {
    const { script } = tracer.bpftrace;
    if (script === undefined && !p.allowCustomBpftrace) {
      return deny(
        'allowCustomBpftrace',
        'custom bpftrace programs (program, programFrom) are not allowed; use bpftrace.script with one of: ' +
          listOrNone(p.allowedBpftraceScripts),
      );
    }
    if (script !== undefined && !p.allowedBpftraceScripts.includes(script)) {
      return deny(
        'allowedBpftraceScripts',
        `bpftrace script ${script} is not allowed; allowed: ${listOrNone(p.allowedBpftraceScripts)}`,
      );
    }
  }
  if (parseDuration(spec.duration) > parseDuration(p.maxDuration)) {
    return deny('maxDuration', `spec.duration ${spec.duration} is longer than the ${p.maxDuration} allowed`);
  }
  const outputs = spec.outputs ?? defaultOutputs(tracer);
  const refusedOutputs = outputs.filter((o) => !p.allowedOutputs.includes(o));
  if (refusedOutputs.length > 0) {
    return deny(
      'allowedOutputs',
      `output ${refusedOutputs.join(', ')} is not allowed; allowed: ${listOrNone(p.allowedOutputs)}`,
    );
  }
  if (spec.storage !== undefined && !p.allowedStorageProfiles.includes(spec.storage)) {
    return deny(
      'allowedStorageProfiles',
      `storage profile ${spec.storage} is not allowed; allowed: ${listOrNone(p.allowedStorageProfiles)} ` +
        '(or omit spec.storage for the default)',
    );
  }
  if (!p.allowKernelStacks) {
    const kernelField = kernelStacksField(traceJob);
    if (kernelField) return deny('allowKernelStacks', `kernel stacks are not allowed; ${kernelField}`);
  }
  if (activeCounts.inNamespace >= p.maxConcurrentPerNamespace) {
    return deny(
      'maxConcurrentPerNamespace',
      `${activeCounts.inNamespace} TraceJobs already run in namespace ${namespace}, the most allowed is ` +
        `${p.maxConcurrentPerNamespace}; this one waits until one finishes`,
      true,
    );
  }
  for (const node of new Set(activeCounts.targetNodes ?? [])) {
    const running = activeCounts.perNode?.[node] ?? 0;
    if (running >= p.maxConcurrentPerNode) {
      return deny(
        'maxConcurrentPerNode',
        `${running} tracer pods already run on node ${node}, the most allowed is ${p.maxConcurrentPerNode}; ` +
          'this one waits until one finishes',
        true,
      );
    }
  }
  return { allowed: true, policy: name, maxTargets: Math.min(spec.target.maxTargets, p.maxTargets) };
}

/** Which setting makes the TraceJob collect kernel stacks, phrased as what to change; undefined when none does. */
function kernelStacksField(traceJob: TraceJob): string | undefined {
  const { tracer } = traceJob.spec;
  switch (tracer.type) {
    case 'profile':
      return (tracer.profile?.kernelStacks ?? true) ? 'set spec.tracer.profile.kernelStacks: false' : undefined;
    case 'perf':
      return (tracer.perf?.kernelStacks ?? true) ? 'set spec.tracer.perf.kernelStacks: false' : undefined;
    case 'tool':
      return tracer.tool && TOOLS[tracer.tool.name].kernelStacks
        ? `tool ${tracer.tool.name} always records kernel stacks; choose another tool`
        : undefined;
    default:
      return undefined;
  }
}

function listOrNone(values: readonly string[]): string {
  return values.length === 0 ? '(none)' : values.join(', ');
}

import { z } from 'zod';
import { regexProblem, MAX_PATTERN_LENGTH } from './regex.ts';
import { MAX_TOOL_ARGS, TOOL_NAMES, TOOLS, parseToolArgs, type ToolInfo } from './tools.ts';
import {
  DNS_LABEL,
  DNS_SUBDOMAIN,
  celList,
  duration,
  enumOf,
  intIn,
  labelSelector,
  type FieldError,
} from './common.ts';
import { formatIssues } from './errors.ts';

export { parseDuration, type FieldError } from './common.ts';

export const GROUP = 'tracejob.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const TRACEJOB_KIND = 'TraceJob';
export const TRACEJOB_PLURAL = 'tracejobs';
export const TRACEJOB_SINGULAR = 'tracejob';
export const TRACEJOB_SHORT_NAMES = ['tj'];

export const MIN_DURATION_SECONDS = 1;
export const MAX_DURATION_SECONDS = 3600;
export const DEFAULT_DURATION = '30s';
export const DEFAULT_MAX_TARGETS = 10;
export const MAX_TARGETS_LIMIT = 100;
/** Limits bpftrace program size: the verifier copes, but a program is also stored in the object and in the plan. */
export const MAX_PROGRAM_BYTES = 16384;
/** TraceJob names become label values on tracer pods, which Kubernetes caps at 63 characters. */
export const MAX_NAME_LENGTH = 63;

export const TRACER_TYPES = ['profile', 'perf', 'bpftrace', 'tool', 'strace', 'ftrace', 'gdb'] as const;
export const OUTPUT_FORMATS = ['flamegraph', 'folded', 'speedscope', 'pprof', 'summary', 'raw'] as const;
/** The scripts shipped with bpftrace (`/usr/sbin/<name>.bt`) a TraceJob may run by name with `bpftrace.script`. */
export const BPFTRACE_SCRIPTS = [
  'biolatency',
  'biosnoop',
  'capable',
  'execsnoop',
  'killsnoop',
  'naptime',
  'oomkill',
  'opensnoop',
  'runqlat',
  'runqlen',
  'statsnoop',
  'syscount',
  'tcpaccept',
  'tcpconnect',
  'tcpdrop',
  'tcplife',
  'tcpretrans',
  'threadsnoop',
  'vfscount',
  'vfsstat',
] as const;

const STACK_OUTPUTS = OUTPUT_FORMATS;
const REPORT_OUTPUTS = ['summary', 'raw'] as const;

// ---- spec.target -----------------------------------------------------------------------------------------------

export const ProcessFilterSchema = z
  .strictObject({
    pid: intIn(1, 4194304)
      .optional()
      .describe('In-container PID (as the container sees it, 1 is its init process). Accepted: 1..4194304.'),
    comm: z
      .string()
      .min(1, { error: 'accepted: 1..15 characters' })
      .max(15, { error: 'accepted: 1..15 characters (the kernel truncates comm to 15)' })
      .regex(/^[^\p{Cc}/]+$/u, { error: 'accepted: printable characters without "/"' })
      .optional()
      .describe('Exact process name (comm, at most 15 characters), for example "node" or "java".'),
    exe: z
      .string()
      .max(4096, { error: 'accepted: an absolute path of at most 4096 characters' })
      .regex(/^\/[^\p{Cc}]*$/u, { error: 'accepted: an absolute path without control characters' })
      .optional()
      .describe('Exact executable path as seen inside the container, for example /usr/local/bin/node.'),
    cmdline: z
      .string()
      .min(1, { error: 'accepted: a non-empty regular expression' })
      .max(MAX_PATTERN_LENGTH, { error: `accepted: a regular expression of at most ${MAX_PATTERN_LENGTH} characters` })
      .superRefine((value, ctx) => {
        const problem = regexProblem(value);
        if (problem) ctx.addIssue({ code: 'custom', message: problem, input: value });
      })
      .optional()
      .describe(
        'RE2 regular expression over the command line, its arguments joined by NUL (\\x00), for example ' +
          '"server\\.js". At most 256 characters; no backreferences or lookarounds.',
      ),
  })
  .describe(
    'Narrows the traced processes within the container; every field set must match. Without it, all of the ' +
      "container's processes are traced.",
  )
  .meta({
    'x-kubernetes-validations': [
      {
        rule: 'has(self.pid) || has(self.comm) || has(self.exe) || has(self.cmdline)',
        message: 'spec.target.process: set at least one of pid, comm, exe, cmdline, or omit process',
      },
    ],
  });

export const TargetSchema = z
  .strictObject({
    pod: z
      .string()
      .max(253, { error: 'accepted: a pod name of at most 253 characters' })
      .regex(DNS_SUBDOMAIN, { error: 'accepted: a pod name (lowercase letters, digits, "-" and ".")' })
      .optional()
      .describe("Name of a pod in the TraceJob's namespace. Exactly one of pod and selector must be set."),
    selector: labelSelector('spec.target.selector', { of: 'pod', matchesAll: 'refuse' })
      .optional()
      .describe(
        "Label selector over the pods of the TraceJob's namespace; every matching running pod is traced, up to " +
          'maxTargets. Exactly one of pod and selector must be set.',
      ),
    container: z
      .string()
      .max(63, { error: 'accepted: a container name of at most 63 characters' })
      .regex(DNS_LABEL, { error: 'accepted: a container name (lowercase letters, digits and "-")' })
      .optional()
      .describe(
        "Container to trace. Default: the container named by the pod's kubectl.kubernetes.io/default-container " +
          'annotation, else its first container.',
      ),
    process: ProcessFilterSchema.optional(),
    maxTargets: intIn(1, MAX_TARGETS_LIMIT)
      .default(DEFAULT_MAX_TARGETS)
      .describe(
        `Most pods a selector may fan out to; further matches are left out and reported. Accepted: 1..${MAX_TARGETS_LIMIT}.`,
      ),
  })
  .describe("Which pod(s), container and processes to trace. Only pods in the TraceJob's own namespace.")
  .meta({
    'x-kubernetes-validations': [
      { rule: 'has(self.pod) != has(self.selector)', message: 'spec.target: set exactly one of pod and selector' },
    ],
  });

// ---- spec.tracer -----------------------------------------------------------------------------------------------

const frequency = () =>
  intIn(1, 1000).default(99).describe('Sampling frequency in Hz per CPU. Accepted: 1..1000; 99 avoids lockstep.');

export const ProfileOptionsSchema = z
  .strictObject({
    frequency: frequency(),
    engine: enumOf(['auto', 'perf', 'bpftrace'] as const)
      .default('auto')
      .describe(
        'auto: bpftrace (in-kernel aggregation, lowest overhead) when the node supports it, else perf. ' +
          'perf or bpftrace force one.',
      ),
    kernelStacks: z
      .boolean({ error: 'accepted: true or false' })
      .default(true)
      .describe('Include kernel frames in the stacks. A TracePolicy may require false.'),
  })
  .describe('Options of type profile: a CPU flame graph by the cheapest engine available.');

export const PerfOptionsSchema = z
  .strictObject({
    mode: enumOf(['record', 'stat'] as const)
      .default('record')
      .describe('record: sample stacks (perf record -g); stat: count events (perf stat).'),
    frequency: frequency(),
    callGraph: enumOf(['fp', 'dwarf'] as const)
      .default('fp')
      .describe(
        'Stack unwinding for record: fp (frame pointers, cheap) or dwarf (works without frame pointers, ' +
          'larger output).',
      ),
    events: z
      .array(
        z
          .string()
          .max(128, { error: 'accepted: an event name of at most 128 characters' })
          .regex(/^[A-Za-z0-9_][A-Za-z0-9_.:/=,-]*$/, {
            error: 'accepted: a perf event name such as cpu-clock, cycles, page-faults or sched:sched_switch',
          }),
      )
      .min(1, { error: 'accepted: 1..16 events' })
      .max(16, { error: 'accepted: at most 16 events' })
      .optional()
      .describe('perf events. Default: cpu-clock for record; the default counter set of perf stat for stat.'),
    kernelStacks: z
      .boolean({ error: 'accepted: true or false' })
      .default(true)
      .describe('Include kernel frames (record) or kernel-mode counts (stat). A TracePolicy may require false.'),
  })
  .describe('Options of type perf.')
  .meta({
    'x-kubernetes-validations': [
      {
        rule: "self.mode == 'record' || self.callGraph == 'fp'",
        message: 'spec.tracer.perf.callGraph: only applies to mode record',
      },
    ],
  });

export const ConfigMapKeyRefSchema = z
  .strictObject({
    name: z
      .string()
      .max(253, { error: 'accepted: a ConfigMap name of at most 253 characters' })
      .regex(DNS_SUBDOMAIN, { error: 'accepted: a ConfigMap name (lowercase letters, digits, "-" and ".")' })
      .describe("Name of a ConfigMap in the TraceJob's namespace."),
    key: z
      .string()
      .max(253, { error: 'accepted: a key of at most 253 characters' })
      .regex(/^[-._a-zA-Z0-9]+$/, { error: 'accepted: a ConfigMap key (letters, digits, "-", "_" and ".")' })
      .describe('Key of the ConfigMap holding the program.'),
  })
  .describe('A key of a ConfigMap.');

export const BpftraceOptionsSchema = z
  .strictObject({
    program: z
      .string()
      .min(1, { error: 'accepted: a non-empty bpftrace program' })
      .max(MAX_PROGRAM_BYTES, { error: `accepted: a program of at most ${MAX_PROGRAM_BYTES} characters` })
      .optional()
      .describe(
        'bpftrace program text. It receives its targets as positional parameters: $1 the host PID of the first ' +
          'target process, $2 the cgroup v2 id of the container (compare with the cgroup builtin; 0 when it has ' +
          'none), $3 the number of target processes. Needs a TracePolicy with allowCustomBpftrace.',
      ),
    programFrom: z
      .strictObject({ configMapKeyRef: ConfigMapKeyRefSchema })
      .optional()
      .describe("Program read from a ConfigMap in the TraceJob's namespace when the TraceJob starts."),
    script: enumOf(BPFTRACE_SCRIPTS)
      .optional()
      .describe(`A script shipped with bpftrace, by name. Accepted: ${BPFTRACE_SCRIPTS.join(', ')}.`),
  })
  .describe('Options of type bpftrace: exactly one of program, programFrom and script.')
  .meta({
    'x-kubernetes-validations': [
      {
        rule: '[has(self.program), has(self.programFrom), has(self.script)].filter(x, x).size() == 1',
        message: 'spec.tracer.bpftrace: set exactly one of program, programFrom and script',
      },
    ],
  });

export const ToolOptionsSchema = z
  .strictObject({
    name: enumOf(TOOL_NAMES).describe(`libbpf-tools program. Accepted: ${TOOL_NAMES.join(', ')}.`),
    args: z
      .array(
        z
          .string()
          .max(256, { error: 'accepted: an argument of at most 256 characters' })
          // Only the characters options, numbers, port lists and function names need; the allow-list does the rest.
          .regex(/^[A-Za-z0-9_.,:/+=-]+$/, {
            error: (iss) =>
              `${JSON.stringify(iss.input)} is not accepted; accepted: an option or value made of letters, digits and _ . , : / + = -`,
          }),
      )
      .max(MAX_TOOL_ARGS, { error: `accepted: at most ${MAX_TOOL_ARGS} arguments` })
      .optional()
      .describe(
        "Extra options, checked against the tool's allow-list (the runner sets the PID or cgroup and the " +
          'duration itself). Example for offcputime: ["--min-block-time", "1000"].',
      ),
  })
  .describe('Options of type tool: a libbpf-tools program by name.');

export const StraceOptionsSchema = z
  .strictObject({
    mode: enumOf(['summary', 'full'] as const)
      .default('summary')
      .describe('summary: counts and time per system call (strace -c); full: every call with timings.'),
    syscalls: z
      .array(
        z
          .string()
          .max(64, { error: 'accepted: a system call name of at most 64 characters' })
          .regex(/^%?[a-z][a-z0-9_]*$/, {
            error: 'accepted: a system call name such as openat, or a class such as %file or %network',
          }),
      )
      .max(64, { error: 'accepted: at most 64 system calls' })
      .optional()
      .describe('Only these system calls or classes (strace -e trace=...). Default: all.'),
    maxOutputBytes: intIn(1024, 1073741824)
      .default(10485760)
      .describe('Output cap of mode full; the trace stops growing there. Accepted: 1024..1073741824.'),
  })
  .describe('Options of type strace.');

export const FtraceOptionsSchema = z
  .strictObject({
    tracer: enumOf(['function', 'function_graph'] as const)
      .default('function_graph')
      .describe('function: every call; function_graph: calls and returns with durations.'),
    functions: z
      .array(
        z
          .string()
          .max(128, { error: 'accepted: a function name or glob of at most 128 characters' })
          .regex(/^[A-Za-z0-9_.*?]+$/, { error: 'accepted: a kernel function name or glob such as vfs_* ' }),
      )
      .max(64, { error: 'accepted: at most 64 functions' })
      .optional()
      .describe('Kernel functions (globs allowed) to trace (set_ftrace_filter / set_graph_function). Default: all.'),
    maxOutputBytes: intIn(1024, 1073741824)
      .default(10485760)
      .describe('Output cap; the trace stops growing there. Accepted: 1024..1073741824.'),
  })
  .describe("Options of type ftrace: kernel function tracing limited to the target's PIDs.");

export const GdbOptionsSchema = z
  .strictObject({
    samples: intIn(1, 1000).default(1).describe('How many all-thread backtraces to take. Accepted: 1..1000.'),
    interval: duration('spec.tracer.gdb.interval', 0.01, 60)
      .default('1s')
      .describe('Time between samples. Accepted: 10ms..60s.'),
  })
  .describe("Options of type gdb: all threads' backtraces, once or sampled (a poor man's profiler).");

const oneBlockRules = TRACER_TYPES.map((type) => ({
  rule: `!has(self.${type}) || self.type == '${type}'`,
  message: `spec.tracer.${type}: only allowed when spec.tracer.type is ${type}`,
}));

export const TracerSpecSchema = z
  .strictObject({
    type: enumOf(TRACER_TYPES).describe(
      'profile: CPU flame graph by the cheapest engine; perf: perf record/stat; bpftrace: a bpftrace program; ' +
        'tool: a libbpf-tools program; strace: system calls; ftrace: kernel function tracing; gdb: backtraces.',
    ),
    profile: ProfileOptionsSchema.optional(),
    perf: PerfOptionsSchema.optional(),
    bpftrace: BpftraceOptionsSchema.optional(),
    tool: ToolOptionsSchema.optional(),
    strace: StraceOptionsSchema.optional(),
    ftrace: FtraceOptionsSchema.optional(),
    gdb: GdbOptionsSchema.optional(),
  })
  .describe('Which tracer runs, and its options: only the block named by type may be set.')
  .meta({
    'x-kubernetes-validations': [
      ...oneBlockRules,
      {
        rule: "self.type != 'bpftrace' || has(self.bpftrace)",
        message: 'spec.tracer.bpftrace: required for type bpftrace',
      },
      { rule: "self.type != 'tool' || has(self.tool)", message: 'spec.tracer.tool: required for type tool' },
    ],
  });

// ---- spec -------------------------------------------------------------------------------------------------------

/** Output formats each tracer can produce. Tools that print stacks fold like profiles; the others only report. */
export function acceptedOutputs(tracer: Pick<TracerSpec, 'type' | 'perf' | 'tool'>): readonly OutputFormat[] {
  switch (tracer.type) {
    case 'perf':
      return tracer.perf?.mode === 'stat' ? REPORT_OUTPUTS : STACK_OUTPUTS;
    case 'tool': {
      const name = tracer.tool?.name;
      return name !== undefined && (TOOLS as Record<string, ToolInfo | undefined>)[name]?.output === 'stacks'
        ? STACK_OUTPUTS
        : ['raw'];
    }
    case 'strace':
    case 'ftrace':
      return REPORT_OUTPUTS;
    default:
      return STACK_OUTPUTS;
  }
}

/** Outputs when spec.outputs is omitted. */
export function defaultOutputs(tracer: Pick<TracerSpec, 'type' | 'perf' | 'tool'>): OutputFormat[] {
  const accepted = acceptedOutputs(tracer);
  if (tracer.type === 'bpftrace' || tracer.type === 'ftrace') return ['raw'];
  if (accepted.includes('flamegraph')) return ['flamegraph', 'folded', 'summary'];
  return [...accepted];
}

const textTools = TOOL_NAMES.filter((name) => TOOLS[name].output === 'text');

const outputRules = [
  {
    rule: `!has(self.outputs) || !(self.tracer.type in ['strace', 'ftrace'] || (self.tracer.type == 'perf' && has(self.tracer.perf) && self.tracer.perf.mode == 'stat')) || self.outputs.all(o, o in ['summary', 'raw'])`,
    message: 'spec.outputs: strace, ftrace and perf stat produce reports; accepted: summary, raw',
  },
  {
    rule: `!has(self.outputs) || self.tracer.type != 'tool' || !has(self.tracer.tool) || !(self.tracer.tool.name in ${celList(textTools)}) || self.outputs.all(o, o == 'raw')`,
    message: 'spec.outputs: this tool prints a text report; accepted: raw',
  },
];

export const TraceJobSpecSchema = z
  .strictObject({
    target: TargetSchema,
    tracer: TracerSpecSchema,
    duration: duration('spec.duration', MIN_DURATION_SECONDS, MAX_DURATION_SECONDS)
      .default(DEFAULT_DURATION)
      .describe(
        'How long to trace, as a Go-style duration ("30s", "5m", "1m30s"). Accepted: 1s..1h. The tracer is ' +
          'stopped with SIGINT at the end so that it flushes its results.',
      ),
    outputs: z
      .array(enumOf(OUTPUT_FORMATS))
      .min(1, { error: `accepted: 1..${OUTPUT_FORMATS.length} of ${OUTPUT_FORMATS.join(', ')}` })
      .max(OUTPUT_FORMATS.length, { error: `accepted: each of ${OUTPUT_FORMATS.join(', ')} at most once` })
      .optional()
      .describe(
        'Artifacts to produce: flamegraph (SVG), folded (stack;frames count), speedscope (JSON), pprof, summary ' +
          "(JSON top frames or counts), raw (the tracer's own output). Default: flamegraph, folded, summary for " +
          'stack tracers; summary, raw for strace and perf stat; raw for bpftrace, ftrace and text tools.',
      )
      .meta({ 'x-kubernetes-list-type': 'set' }),
    storage: z
      .string()
      .max(63, { error: 'accepted: a storage profile name of at most 63 characters' })
      .regex(DNS_LABEL, { error: 'accepted: a storage profile name (lowercase letters, digits and "-")' })
      .optional()
      .describe(
        "Storage profile configured by the platform team (operator configuration). Default: the operator's default.",
      ),
    ttlSecondsAfterFinished: intIn(0, 2592000)
      .optional()
      .describe(
        'Delete the TraceJob this many seconds after it finished. Accepted: 0..2592000 (30 days). Default: keep.',
      ),
  })
  .describe('What to trace, with which tracer, for how long, and what to produce. Immutable once created.')
  .meta({
    'x-kubernetes-validations': [
      { rule: 'self == oldSelf', message: 'spec is immutable; delete the TraceJob and create a new one' },
      ...outputRules,
    ],
  });

// ---- status -----------------------------------------------------------------------------------------------------

const time = () => z.iso.datetime({ offset: true, error: 'accepted: an RFC 3339 time' });

export const ConditionSchema = z
  .strictObject({
    type: z.string().max(316).describe('Accepted, TargetsResolved, Running, Complete or Failed.'),
    status: enumOf(['True', 'False', 'Unknown'] as const).describe('True, False or Unknown.'),
    observedGeneration: z.int().min(0).optional().describe('The .metadata.generation the condition was set for.'),
    lastTransitionTime: time().describe('When the status last changed.'),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
      .describe('CamelCase reason, for example PolicyDenied or TargetNotFound.'),
    message: z.string().max(32768).describe('Human-readable detail.'),
  })
  .describe('A metav1.Condition.');

export const TARGET_STATES = ['Pending', 'Running', 'Succeeded', 'Failed'] as const;

export const TargetStatusSchema = z
  .strictObject({
    namespace: z.string().max(63).describe('Namespace of the pod.'),
    pod: z.string().max(253).describe('Pod name.'),
    podUID: z.string().max(64).optional().describe('Pod UID.'),
    container: z.string().max(63).optional().describe('Traced container.'),
    containerID: z.string().max(256).optional().describe('Runtime container ID (runtime://id).'),
    node: z.string().max(253).optional().describe('Node the pod runs on, and where its tracer pod runs.'),
    qosClass: enumOf(['Guaranteed', 'Burstable', 'BestEffort'] as const)
      .optional()
      .describe('QoS class of the pod.'),
    state: enumOf(TARGET_STATES).describe('Pending, Running, Succeeded or Failed.'),
    pids: z.array(z.int().min(1)).max(1024).optional().describe('Host PIDs traced.'),
    message: z.string().max(4096).optional().describe('What happened to this target, for example why it failed.'),
  })
  .describe('One traced pod.');

export const ArtifactSchema = z
  .strictObject({
    name: z.string().max(253).describe('File name, for example flamegraph.svg.'),
    format: enumOf(OUTPUT_FORMATS).describe('One of the spec.outputs formats.'),
    uri: z
      .string()
      .max(2048)
      .describe('Where it is stored, for example s3://bucket/prefix/ns/name/uid/node/flamegraph.svg.'),
    sizeBytes: z.int().min(0).describe('Size in bytes.'),
    sha256: z
      .string()
      .length(64)
      .regex(/^[0-9a-f]{64}$/)
      .describe('SHA-256 of the content, lowercase hex.'),
    url: z.string().max(4096).optional().describe('Shareable (presigned) HTTP URL, when the storage offers one.'),
    urlExpiresAt: time().optional().describe('When url stops working.'),
    node: z.string().max(253).optional().describe('Node it was recorded on.'),
    pod: z.string().max(253).optional().describe('Target pod it belongs to; absent for merged artifacts.'),
  })
  .describe('A stored result.');

export const TopFrameSchema = z
  .strictObject({
    frame: z.string().max(1024).describe('Function (frame) name.'),
    self: z.number().min(0).max(1).describe('Fraction of samples with this frame on top of the stack.'),
    total: z.number().min(0).max(1).describe('Fraction of samples with this frame anywhere in the stack.'),
  })
  .describe('A hot frame.');

export const ProfileSummarySchema = z
  .strictObject({
    samples: z.int().min(0).describe('Number of stack samples over all targets.'),
    topFrames: z.array(TopFrameSchema).max(50).optional().describe('Hottest frames by self fraction.'),
  })
  .describe('What was hot.');

export const PHASES = ['Pending', 'Running', 'Succeeded', 'Failed'] as const;

export const TraceJobStatusSchema = z
  .strictObject({
    phase: enumOf(PHASES).optional().describe('Pending, Running, Succeeded or Failed.'),
    observedGeneration: z.int().min(0).optional().describe('The .metadata.generation the status is for.'),
    conditions: z
      .array(ConditionSchema)
      .max(16)
      .optional()
      .describe('Accepted, TargetsResolved, Running, Complete, Failed.')
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
    targets: z.array(TargetStatusSchema).max(MAX_TARGETS_LIMIT).optional().describe('The pods being traced.'),
    artifacts: z.array(ArtifactSchema).max(1000).optional().describe('Stored results.'),
    summary: ProfileSummarySchema.optional(),
    policy: z.string().max(253).optional().describe('The TracePolicy that admitted the TraceJob.'),
    startTime: time().optional().describe('When tracing started.'),
    completionTime: time().optional().describe('When the TraceJob finished.'),
    message: z.string().max(32768).optional().describe('Human-readable summary of the state.'),
  })
  .describe('Observed state, written by the operator.');

export const TraceJobSchema = z
  .object({
    apiVersion: z.literal(API_VERSION, { error: `accepted: ${API_VERSION}` }),
    kind: z.literal(TRACEJOB_KIND, { error: `accepted: ${TRACEJOB_KIND}` }),
    metadata: z
      .looseObject({
        name: z
          .string()
          .max(MAX_NAME_LENGTH, {
            error: `accepted: at most ${MAX_NAME_LENGTH} characters (the name becomes a label value on tracer pods)`,
          })
          .regex(DNS_LABEL, { error: 'accepted: lowercase letters, digits and "-"' })
          .optional(),
        namespace: z.string().optional(),
      })
      .describe('Standard object metadata.'),
    spec: TraceJobSpecSchema,
    status: TraceJobStatusSchema.optional(),
  })
  .describe('A request to trace pods with a Linux tracer for a bounded time and store the results.');

export type TracerType = (typeof TRACER_TYPES)[number];
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
export type Phase = (typeof PHASES)[number];
export type TargetState = (typeof TARGET_STATES)[number];
export type ProcessFilter = z.output<typeof ProcessFilterSchema>;
export type Target = z.output<typeof TargetSchema>;
export type ProfileOptions = z.output<typeof ProfileOptionsSchema>;
export type PerfOptions = z.output<typeof PerfOptionsSchema>;
export type BpftraceOptions = z.output<typeof BpftraceOptionsSchema>;
export type ToolOptions = z.output<typeof ToolOptionsSchema>;
export type StraceOptions = z.output<typeof StraceOptionsSchema>;
export type FtraceOptions = z.output<typeof FtraceOptionsSchema>;
export type GdbOptions = z.output<typeof GdbOptionsSchema>;
export type TracerSpec = z.output<typeof TracerSpecSchema>;
export type TraceJobSpec = z.output<typeof TraceJobSpecSchema>;
export type Condition = z.output<typeof ConditionSchema>;
export type TargetStatus = z.output<typeof TargetStatusSchema>;
export type Artifact = z.output<typeof ArtifactSchema>;
export type TopFrame = z.output<typeof TopFrameSchema>;
export type ProfileSummary = z.output<typeof ProfileSummarySchema>;
export type TraceJobStatus = z.output<typeof TraceJobStatusSchema>;
export type TraceJob = z.output<typeof TraceJobSchema>;

export type ValidationResult<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

/**
 * Validates an object (for example a TraceJob read from the API server) and returns it typed and complete: defaults
 * applied, the option block of tracer.type filled in, and outputs set. Cross-field rules the CRD enforces with CEL are
 * checked here too, so the controller refuses what a cluster without CEL (or an older CRD) let through.
 */
export function validateTraceJob(obj: unknown): ValidationResult<TraceJob> {
  const parsed = TraceJobSchema.safeParse(obj);
  if (!parsed.success) {
    // Report the cross-field mistakes too, so that an author fixes everything in one round, as with the CRD.
    const errors = formatIssues(parsed.error.issues, TraceJobSchema);
    const seen = new Set(errors.map((e) => e.field));
    const spec = (obj as { spec?: unknown } | null)?.spec;
    for (const error of lenientCrossFieldErrors(spec)) if (!seen.has(error.field)) errors.push(error);
    return { ok: false, errors };
  }
  const job = parsed.data;
  const errors = crossFieldErrors(job.spec);
  if (errors.length > 0) return { ok: false, errors };
  job.spec.tracer = withTypeDefaults(job.spec.tracer);
  job.spec.outputs ??= defaultOutputs(job.spec.tracer);
  return { ok: true, value: job };
}

/** Same checks as validateTraceJob for a bare spec. */
export function validateTraceJobSpec(spec: unknown): ValidationResult<TraceJobSpec> {
  const result = validateTraceJob({
    apiVersion: API_VERSION,
    kind: TRACEJOB_KIND,
    metadata: {},
    spec,
  });
  if (!result.ok) {
    return { ok: false, errors: result.errors.map((e) => ({ ...e, field: e.field.replace(/^spec\.?/, '') || '.' })) };
  }
  return { ok: true, value: result.value.spec };
}

function withTypeDefaults(tracer: TracerSpec): TracerSpec {
  switch (tracer.type) {
    case 'profile':
      return { ...tracer, profile: tracer.profile ?? ProfileOptionsSchema.parse({}) };
    case 'perf':
      return { ...tracer, perf: tracer.perf ?? PerfOptionsSchema.parse({}) };
    case 'strace':
      return { ...tracer, strace: tracer.strace ?? StraceOptionsSchema.parse({}) };
    case 'ftrace':
      return { ...tracer, ftrace: tracer.ftrace ?? FtraceOptionsSchema.parse({}) };
    case 'gdb':
      return { ...tracer, gdb: tracer.gdb ?? GdbOptionsSchema.parse({}) };
    default:
      return tracer;
  }
}

/** Cross-field checks on a spec that failed parsing, as far as its shape allows them. */
function lenientCrossFieldErrors(spec: unknown): FieldError[] {
  const isRecord = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isRecord(spec) || !isRecord(spec.target) || !isRecord(spec.tracer)) return [];
  if (!(TRACER_TYPES as readonly unknown[]).includes(spec.tracer.type)) return [];
  try {
    return crossFieldErrors(spec as TraceJobSpec);
  } catch {
    return [];
  }
}

function crossFieldErrors(spec: TraceJobSpec): FieldError[] {
  const errors: FieldError[] = [];
  const { target, tracer } = spec;
  if ((target.pod === undefined) === (target.selector === undefined)) {
    errors.push({ field: 'spec.target', message: 'set exactly one of pod and selector' });
  }
  if (target.process && Object.values(target.process).every((v) => v === undefined)) {
    errors.push({
      field: 'spec.target.process',
      message: 'set at least one of pid, comm, exe, cmdline, or omit process',
    });
  }
  for (const type of TRACER_TYPES) {
    if (type !== tracer.type && tracer[type] !== undefined) {
      errors.push({
        field: `spec.tracer.${type}`,
        message: `only allowed when spec.tracer.type is ${type} (it is ${tracer.type}); set spec.tracer.${tracer.type} instead`,
      });
    }
  }
  if (tracer.type === 'bpftrace') {
    const b = tracer.bpftrace;
    const sources = b ? [b.program, b.programFrom, b.script].filter((s) => s !== undefined).length : 0;
    if (sources !== 1) {
      errors.push({ field: 'spec.tracer.bpftrace', message: 'set exactly one of program, programFrom and script' });
    }
  }
  if (tracer.type === 'tool') {
    if (!tracer.tool) {
      errors.push({
        field: 'spec.tracer.tool',
        message: `required for type tool; accepted names: ${TOOL_NAMES.join(', ')}`,
      });
    } else {
      const args = parseToolArgs(tracer.tool.name, tracer.tool.args ?? []);
      if (!args.ok) {
        const field = args.index >= 0 ? `spec.tracer.tool.args[${args.index}]` : 'spec.tracer.tool.args';
        errors.push({ field, message: args.message });
      }
    }
  }
  if (tracer.perf && tracer.perf.mode === 'stat' && tracer.perf.callGraph !== 'fp') {
    errors.push({ field: 'spec.tracer.perf.callGraph', message: 'only applies to mode record' });
  }
  if (Array.isArray(spec.outputs)) {
    const accepted = acceptedOutputs(tracer);
    spec.outputs.forEach((output, i) => {
      if (!accepted.includes(output)) {
        errors.push({
          field: `spec.outputs[${i}]`,
          message: `${output} is not produced by this tracer; accepted: ${accepted.join(', ')}`,
        });
      } else if (spec.outputs!.indexOf(output) !== i) {
        errors.push({ field: `spec.outputs[${i}]`, message: `${output} is listed twice; accepted: each format once` });
      }
    });
  }
  return errors;
}

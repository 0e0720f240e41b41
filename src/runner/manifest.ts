import { z } from 'zod';
import { ArtifactSchema, ProfileSummarySchema, TargetStatusSchema } from '../api/tracejob.ts';

/**
 * What one tracer pod reports back. The operator reads it from the pod's termination message (at most 4096 bytes, so
 * `fitManifest` shortens it deliberately) and copies it into the TraceJob's status; the complete version is stored next
 * to the artifacts as manifest.json.
 */

export const MANIFEST_VERSION = 1;
/** Kubernetes keeps at most 4096 bytes of a container's termination message. */
export const TERMINATION_MESSAGE_LIMIT = 4096;

export const FAILURE_REASONS = [
  'InvalidPlan',
  'TargetNotFound',
  'NoMatchingProcess',
  'TracerMissing',
  'InsufficientPrivileges',
  'KernelUnsupported',
  'TracerFailed',
  'NoSamples',
  'UploadFailed',
  'Interrupted',
  'InternalError',
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

export const ResultManifestSchema = z.strictObject({
  version: z.literal(MANIFEST_VERSION),
  traceJob: z.strictObject({ namespace: z.string(), name: z.string(), uid: z.string() }).optional(),
  node: z.string().optional(),
  state: z.enum(['Succeeded', 'Failed']),
  /** Set when state is Failed. */
  reason: z.enum(FAILURE_REASONS).optional(),
  message: z.string().optional(),
  tracer: z.string(),
  startTime: z.iso.datetime({ offset: true }),
  completionTime: z.iso.datetime({ offset: true }),
  targets: z.array(TargetStatusSchema),
  artifacts: z.array(ArtifactSchema),
  summary: ProfileSummarySchema.optional(),
  /** How many entries `fitManifest` left out of the termination message; the stored manifest.json has them all. */
  omitted: z
    .strictObject({
      artifacts: z.int().min(0),
      targets: z.int().min(0),
      pids: z.int().min(0),
      topFrames: z.int().min(0),
    })
    .optional(),
});

export type ResultManifest = z.output<typeof ResultManifestSchema>;

export function parseResultManifest(text: string): ResultManifest {
  return ResultManifestSchema.parse(JSON.parse(text));
}

function size(manifest: ResultManifest): number {
  return Buffer.byteLength(JSON.stringify(manifest));
}

function clip(text: string | undefined, max: number): string | undefined {
  if (text === undefined || text.length <= max) return text;
  return `${text.slice(0, max - 1)}…`;
}

/** Artifacts the operator shows first, when only some fit. */
const artifactPriority = ['summary', 'flamegraph', 'raw', 'pprof', 'speedscope', 'folded'];

/**
 * Returns a manifest whose JSON fits in `limit` bytes, shortening in order of least loss: presigned URLs (the operator
 * can sign again), long messages, PID lists, frame names, top frames, then whole artifacts and targets by priority.
 * What was dropped is counted in `omitted`.
 */
export function fitManifest(manifest: ResultManifest, limit = TERMINATION_MESSAGE_LIMIT): ResultManifest {
  if (size(manifest) <= limit) return manifest;
  const omitted = { artifacts: 0, targets: 0, pids: 0, topFrames: 0 };
  const m: ResultManifest = structuredClone(manifest);
  m.omitted = omitted;
  const fits = () => size(m) <= limit;

  for (const a of m.artifacts) {
    delete a.url;
    delete a.urlExpiresAt;
  }
  if (fits()) return m;
  m.message = clip(m.message, 512);
  for (const t of m.targets) t.message = clip(t.message, 200);
  if (fits()) return m;
  for (const keep of [16, 4, 1]) {
    for (const t of m.targets) {
      if (t.pids && t.pids.length > keep) {
        omitted.pids += t.pids.length - keep;
        t.pids = t.pids.slice(0, keep);
      }
    }
    if (fits()) return m;
  }
  if (m.summary?.topFrames) {
    for (const f of m.summary.topFrames) f.frame = clip(f.frame, 100)!;
    for (const keep of [10, 5, 3, 0]) {
      if (fits()) return m;
      if (m.summary.topFrames.length > keep) {
        omitted.topFrames += m.summary.topFrames.length - keep;
        m.summary.topFrames = m.summary.topFrames.slice(0, keep);
      }
    }
    if (fits()) return m;
  }
  const rank = (format: string) => {
    const i = artifactPriority.indexOf(format);
    return i < 0 ? artifactPriority.length : i;
  };
  m.artifacts.sort((a, b) => rank(a.format) - rank(b.format));
  for (const t of m.targets) delete t.message;
  // Keep a few artifacts (summary, flame graph) and at least one target's state before giving up on either.
  while (!fits() && m.artifacts.length > 3) {
    m.artifacts.pop();
    omitted.artifacts++;
  }
  while (!fits() && m.targets.length > 1) {
    m.targets.pop();
    omitted.targets++;
  }
  while (!fits() && m.artifacts.length > 0) {
    m.artifacts.pop();
    omitted.artifacts++;
  }
  if (!fits()) m.message = clip(m.message, 200);
  if (!fits()) {
    omitted.targets += m.targets.length;
    m.targets = [];
  }
  return m;
}

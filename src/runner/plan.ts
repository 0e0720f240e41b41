import { z } from 'zod';
import { formatIssues } from '../api/errors.ts';
import {
  MAX_TARGETS_LIMIT,
  MAX_DURATION_SECONDS,
  MIN_DURATION_SECONDS,
  OUTPUT_FORMATS,
  ProcessFilterSchema,
  TracerSpecSchema,
} from '../api/tracejob.ts';
import { SinkConfig } from '../storage/config.ts';

/**
 * What the operator hands one tracer pod (env TRACEJOB_PLAN, JSON): which containers on this node to trace, with which
 * tracer, for how long, and where the results go. Everything the runner does is decided by this object; credentials
 * are never part of it (they arrive as env vars from a Secret, see src/storage/config.ts CREDENTIAL_ENV).
 */

const name = (what: string, max: number) =>
  z
    .string({ error: `accepted: a ${what}` })
    .min(1, { error: `accepted: a non-empty ${what}` })
    .max(max, { error: `accepted: a ${what} of at most ${max} characters` })
    .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, { error: `accepted: a ${what} (lowercase letters, digits, "-", ".")` });

export const PlanTargetSchema = z
  .strictObject({
    namespace: name('namespace name', 63),
    pod: name('pod name', 253),
    podUID: z.string().regex(/^[0-9a-fA-F]{8}([-_]?[0-9a-fA-F]{4}){3}[-_]?[0-9a-fA-F]{12}$/, {
      error: 'accepted: a pod UID such as 6f1c5e0a-3b7d-4c2e-9a8b-0d1e2f3a4b5c',
    }),
    container: z.string().min(1).max(63, { error: 'accepted: a container name of at most 63 characters' }),
    containerID: z.string().regex(/^(containerd|cri-o|docker):\/\/[0-9a-f]{64}$/, {
      error: 'accepted: <runtime>://<64 hex digits> with runtime containerd, cri-o or docker',
    }),
    qosClass: z.enum(['Guaranteed', 'Burstable', 'BestEffort']).optional(),
  })
  .describe('One container to trace on this node.');

export const RunnerPlanSchema = z
  .strictObject({
    traceJob: z.strictObject({
      namespace: name('namespace name', 63),
      name: name('TraceJob name', 253),
      uid: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,127}$/, { error: 'accepted: a Kubernetes UID' }),
    }),
    node: name('node name', 253),
    targets: z
      .array(PlanTargetSchema)
      .min(1, { error: 'accepted: 1 or more targets' })
      .max(MAX_TARGETS_LIMIT, { error: `accepted: at most ${MAX_TARGETS_LIMIT} targets` }),
    tracer: TracerSpecSchema,
    process: ProcessFilterSchema.optional(),
    durationSeconds: z
      .number({ error: `accepted: a number of seconds, ${MIN_DURATION_SECONDS}..${MAX_DURATION_SECONDS}` })
      .min(MIN_DURATION_SECONDS, { error: `accepted: ${MIN_DURATION_SECONDS}..${MAX_DURATION_SECONDS}` })
      .max(MAX_DURATION_SECONDS, { error: `accepted: ${MIN_DURATION_SECONDS}..${MAX_DURATION_SECONDS}` }),
    outputs: z
      .array(z.enum(OUTPUT_FORMATS, { error: `accepted: ${OUTPUT_FORMATS.join(', ')}` }))
      .min(1, { error: `accepted: 1 or more of ${OUTPUT_FORMATS.join(', ')}` }),
    /** Absent: artifacts stay in the pod's working directory (useful only for `tracejob trace`). */
    storage: SinkConfig.optional(),
  })
  .superRefine((plan, ctx) => {
    if (plan.tracer.bpftrace?.programFrom) {
      ctx.addIssue({
        code: 'custom',
        path: ['tracer', 'bpftrace', 'programFrom'],
        message:
          'the operator reads the ConfigMap and passes its text as tracer.bpftrace.program; accepted: program or script',
      });
    }
    const types = ['profile', 'perf', 'bpftrace', 'tool', 'strace', 'ftrace', 'gdb'] as const;
    for (const type of types) {
      if (type !== plan.tracer.type && plan.tracer[type] !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['tracer', type],
          message: `only accepted when tracer.type is ${type}`,
        });
      }
    }
  });

export type PlanTarget = z.output<typeof PlanTargetSchema>;
export type RunnerPlan = z.output<typeof RunnerPlanSchema>;
export type RunnerPlanInput = z.input<typeof RunnerPlanSchema>;

export class PlanError extends Error {
  override name = 'PlanError';
}

/** Parses TRACEJOB_PLAN. Errors name the field (`TRACEJOB_PLAN.tracer.perf.frequency: accepted: 1..1000`). */
export function parseRunnerPlan(json: string | undefined, source = 'TRACEJOB_PLAN'): RunnerPlan {
  if (json === undefined || json.trim() === '')
    throw new PlanError(`${source}: not set; the operator passes the plan as JSON`);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new PlanError(`${source}: not JSON (${(err as Error).message})`);
  }
  const parsed = RunnerPlanSchema.safeParse(value);
  if (!parsed.success) {
    const errors = formatIssues(parsed.error.issues, RunnerPlanSchema);
    throw new PlanError(errors.map((e) => `${source}.${e.field}: ${e.message}`).join('; '));
  }
  return parsed.data;
}

import { z } from 'zod';

/** A problem with one field of an object: `field` is a path such as `spec.tracer.perf.frequency` or `spec.outputs[2]`. */
export interface FieldError {
  field: string;
  message: string;
}

export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Go-style durations with the units a trace needs: "30s", "5m", "1h", "1m30s", "500ms". */
export const DURATION = /^([0-9]{1,6}(ms|s|m|h))+$/;

/** An integer in [min, max] whose errors say what is accepted. */
export const intIn = (min: number, max: number) =>
  z
    .int({ error: `must be an integer; accepted: ${min}..${max}` })
    .min(min, { error: (iss) => `${String(iss.input)} is out of range; accepted: ${min}..${max}` })
    .max(max, { error: (iss) => `${String(iss.input)} is out of range; accepted: ${min}..${max}` });

/** One of `values`, with errors that list them. */
export const enumOf = <T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: (iss) => `${JSON.stringify(iss.input)} is not accepted; accepted: ${values.join(', ')}` });

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/** Seconds in a Go-style duration ("1m30s" → 90, "500ms" → 0.5). Throws on anything else. */
export function parseDuration(value: string): number {
  if (!DURATION.test(value)) {
    throw new Error(
      `${JSON.stringify(value)} is not a duration; accepted: a number with unit ms, s, m or h, e.g. 30s, 5m, 1m30s`,
    );
  }
  let seconds = 0;
  for (const [, amount, unit] of value.matchAll(/([0-9]+)(ms|s|m|h)/g))
    seconds += Number(amount) * UNIT_SECONDS[unit!]!;
  return Math.round(seconds * 1000) / 1000;
}

function formatSeconds(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)}ms`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/** A duration string bounded to [min, max] seconds, checked by zod and by the CRD (CEL's duration()). */
export function duration(field: string, minSeconds: number, maxSeconds: number) {
  const min = formatSeconds(minSeconds);
  const max = formatSeconds(maxSeconds);
  const accepted = `accepted: ${min}..${max}, written like 30s, 5m or 1m30s`;
  return z
    .string({ error: accepted })
    .max(32, { error: accepted })
    .regex(DURATION, { error: (iss) => `${JSON.stringify(iss.input)} is not a duration; ${accepted}` })
    .refine(
      (value) => !DURATION.test(value) || (parseDuration(value) >= minSeconds && parseDuration(value) <= maxSeconds),
      { error: (iss) => `${String(iss.input)} is out of range; ${accepted}` },
    )
    .meta({
      'x-kubernetes-validations': [
        {
          rule: `duration(self) >= duration('${min}') && duration(self) <= duration('${max}')`,
          message: `${field}: ${accepted}`,
        },
      ],
    });
}

/** CEL list literal of strings. */
export function celList(values: readonly string[]): string {
  return `[${values.map((v) => `'${v}'`).join(', ')}]`;
}

const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

const labelKey = z
  .string()
  .max(316, { error: 'accepted: a label key of at most 316 characters' })
  .regex(LABEL_KEY, { error: 'accepted: a label key such as app or app.kubernetes.io/name' });
const labelValue = z
  .string()
  .max(63, { error: 'accepted: a label value of at most 63 characters' })
  .regex(LABEL_VALUE, { error: 'accepted: a label value (letters, digits, "-", "_" and ".")' });

export const LABEL_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

/**
 * A metav1.LabelSelector over pods or namespaces. With `matchesAll: 'refuse'` it must select something: an empty
 * selector would match every pod of the namespace.
 */
export function labelSelector(field: string, options: { of: 'pod' | 'namespace'; matchesAll: 'refuse' | 'allow' }) {
  const { of, matchesAll } = options;
  const selector = z
    .strictObject({
      matchLabels: z
        .record(labelKey, labelValue)
        .optional()
        .describe(`Labels a ${of} must carry, all of them.`)
        .meta({ maxProperties: 32 }),
      matchExpressions: z
        .array(
          z
            .strictObject({
              key: labelKey.describe('Label key.'),
              operator: enumOf(LABEL_OPERATORS).describe('In, NotIn, Exists or DoesNotExist.'),
              values: z
                .array(labelValue)
                .max(64, { error: 'accepted: at most 64 values' })
                .optional()
                .describe('Values for In and NotIn (at least one); must be empty for Exists and DoesNotExist.'),
            })
            .describe('A label requirement.')
            .meta({
              'x-kubernetes-validations': [
                {
                  rule: "(self.operator in ['In', 'NotIn']) == (has(self.values) && size(self.values) > 0)",
                  message: `${field}.matchExpressions: In and NotIn need values; Exists and DoesNotExist take none`,
                },
              ],
            }),
        )
        .max(16, { error: 'accepted: at most 16 expressions' })
        .optional()
        .describe(`Label requirements a ${of} must meet, all of them.`),
    })
    .superRefine((selector, ctx) => {
      const labels = Object.keys(selector.matchLabels ?? {}).length;
      if (labels > 32) ctx.addIssue({ code: 'custom', path: ['matchLabels'], message: 'accepted: at most 32 labels' });
      if (matchesAll === 'refuse' && labels === 0 && (selector.matchExpressions ?? []).length === 0) {
        ctx.addIssue({
          code: 'custom',
          message: `an empty selector would match every ${of}; accepted: at least one matchLabels entry or matchExpressions entry`,
        });
      }
      selector.matchExpressions?.forEach((expr, i) => {
        const needsValues = expr.operator === 'In' || expr.operator === 'NotIn';
        const hasValues = (expr.values ?? []).length > 0;
        if (needsValues !== hasValues) {
          ctx.addIssue({
            code: 'custom',
            path: ['matchExpressions', i, 'values'],
            message: needsValues
              ? `operator ${expr.operator} needs at least one value`
              : `operator ${expr.operator} takes no values; accepted: omit values`,
          });
        }
      });
    });
  if (matchesAll === 'allow') return selector;
  return selector.meta({
    'x-kubernetes-validations': [
      {
        rule: '(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)',
        message: `${field}: an empty selector would match every ${of}; set matchLabels or matchExpressions`,
      },
    ],
  });
}

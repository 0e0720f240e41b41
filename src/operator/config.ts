import { readFile } from 'node:fs/promises';
import { load as loadYaml } from 'js-yaml';
import { z } from 'zod';
import { StorageProfiles } from '../storage/config.ts';

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const quantity = /^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$/;

const ResourceList = z
  .object({
    cpu: z.string().regex(quantity, 'a Kubernetes quantity such as 100m or 1').optional(),
    memory: z.string().regex(quantity, 'a Kubernetes quantity such as 256Mi').optional(),
  })
  .strict();

const Toleration = z
  .object({
    key: z.string().optional(),
    operator: z.enum(['Exists', 'Equal']).optional(),
    value: z.string().optional(),
    effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
    tolerationSeconds: z.number().int().optional(),
  })
  .strict();

/** The operator's configuration file (YAML or JSON); the Helm chart renders it into a ConfigMap. */
export const OperatorConfig = z
  .object({
    /** Where tracer pods run: the operator's own namespace, never the user's. */
    tracerNamespace: z.string().regex(dns1123Label, 'a namespace name (DNS-1123 label)').default('tracejob-system'),
    tracerImage: z.string().min(1).default('ghcr.io/tracejob/tracejob:0.1.0'),
    imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'),
    imagePullSecrets: z.array(z.string().regex(dns1123Label)).default([]),
    /** Has no RBAC bindings; its token is not mounted either. */
    tracerServiceAccount: z.string().regex(dns1123Label).default('tracejob-tracer'),
    tracerResources: z
      .object({ requests: ResourceList.default({}), limits: ResourceList.default({}) })
      .strict()
      .default({ requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } }),
    /** Tracing a pod on a tainted node is the point, so by default the tracer tolerates every taint. */
    tolerations: z.array(Toleration).default([{ operator: 'Exists' }]),
    nodeSelector: z.record(z.string(), z.string()).default({}),
    /** Added to every tracer pod, e.g. to keep a service mesh from injecting its sidecar. */
    tracerPodAnnotations: z.record(z.string(), z.string()).default({}),
    /** Named sinks; presigned-URL expiry and what happens to artifacts on deletion are set per sink. */
    storage: StorageProfiles,
    /** Added to the trace's duration for the pod's activeDeadlineSeconds: room for start-up, symbolisation, upload. */
    deadlineMarginSeconds: z.number().int().min(10).max(3600).default(120),
    /** A tracer pod that stays Pending this long fails its TraceJob (image pull errors, unschedulable nodes). */
    startTimeoutSeconds: z.number().int().min(10).max(3600).default(300),
  })
  .strict();
export type OperatorConfig = z.infer<typeof OperatorConfig>;

/** A configuration for development: results stay on the node in `resultsDir`. */
export function localConfig(
  resultsDir: string,
  overrides: Partial<z.input<typeof OperatorConfig>> = {},
): OperatorConfig {
  return OperatorConfig.parse({
    storage: { default: 'local', profiles: { local: { type: 'local', directory: resultsDir } } },
    ...overrides,
  });
}

export async function loadOperatorConfig(file: string): Promise<OperatorConfig> {
  const text = await readFile(file, 'utf8');
  let raw: unknown;
  try {
    raw = loadYaml(text);
  } catch (err) {
    throw new Error(`${file}: not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  const parsed = OperatorConfig.safeParse(raw ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`${file}: invalid operator configuration:\n  ${problems.join('\n  ')}`);
  }
  return parsed.data;
}

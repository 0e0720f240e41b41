import { dump } from 'js-yaml';
import { z } from 'zod';
import {
  TracePolicySpecSchema,
  TRACEPOLICY_KIND,
  TRACEPOLICY_PLURAL,
  TRACEPOLICY_SHORT_NAMES,
  TRACEPOLICY_SINGULAR,
} from './tracepolicy.ts';
import {
  GROUP,
  MAX_NAME_LENGTH,
  TRACEJOB_KIND,
  TRACEJOB_PLURAL,
  TRACEJOB_SHORT_NAMES,
  TRACEJOB_SINGULAR,
  TraceJobSpecSchema,
  TraceJobStatusSchema,
  VERSION,
} from './tracejob.ts';
import { DNS_LABEL } from './common.ts';

export type JSONSchemaProps = Record<string, unknown>;

/** Keywords of JSON Schema that a structural Kubernetes schema either forbids or that kube-apiserver does not know. */
const FORBIDDEN = ['$ref', 'anyOf', 'oneOf', 'allOf', 'not', 'const', 'if', 'then', 'else', '$defs', 'definitions'];

/**
 * Turns zod's JSON Schema (draft 2020-12) into a structural openAPIV3Schema: drops what Kubernetes rejects
 * (`additionalProperties: false`, `propertyNames`, `$schema`), keeps descriptions, defaults, bounds, patterns and the
 * `x-kubernetes-*` extensions the zod schemas carry in their metadata, and fails loudly on anything it cannot express.
 */
export function toStructural(schema: JSONSchemaProps, path = ''): JSONSchemaProps {
  const out: JSONSchemaProps = {};
  for (const [key, value] of Object.entries(schema)) {
    if (FORBIDDEN.includes(key))
      throw new Error(`${path || '.'}: ${key} cannot be expressed in a structural CRD schema`);
    switch (key) {
      case '$schema':
      case 'propertyNames':
        break;
      case 'properties':
        out.properties = Object.fromEntries(
          Object.entries(value as Record<string, JSONSchemaProps>).map(([name, sub]) => [
            name,
            toStructural(sub, `${path}.${name}`),
          ]),
        );
        break;
      case 'items':
        out.items = toStructural(value as JSONSchemaProps, `${path}[]`);
        break;
      case 'additionalProperties':
        if (value === false) break;
        if (typeof value === 'object' && value !== null && Object.keys(value).length === 0) {
          out['x-kubernetes-preserve-unknown-fields'] = true;
          break;
        }
        out.additionalProperties = toStructural(value as JSONSchemaProps, `${path}.*`);
        break;
      case 'minimum':
      case 'maximum':
        // zod's z.int() bounds every integer by Number.MAX_SAFE_INTEGER; Kubernetes integers are int64 already.
        if (Math.abs(value as number) !== Number.MAX_SAFE_INTEGER) out[key] = value;
        break;
      case 'pattern':
        // RFC 3339 times are checked by `format: date-time`, which kube-apiserver knows; zod's pattern would be redundant.
        if (schema.format !== 'date-time') out.pattern = value;
        break;
      default:
        out[key] = value;
    }
  }
  if (out.type === undefined && out['x-kubernetes-preserve-unknown-fields'] !== true) {
    throw new Error(`${path || '.'}: every schema of a structural CRD needs a type`);
  }
  return out;
}

function jsonSchema(schema: z.ZodType): JSONSchemaProps {
  return toStructural(z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' }) as JSONSchemaProps);
}

const LABELS = { 'app.kubernetes.io/name': 'tracejob', 'app.kubernetes.io/part-of': 'tracejob' };

export function traceJobCrd(): JSONSchemaProps {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${TRACEJOB_PLURAL}.${GROUP}`, labels: LABELS },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        kind: TRACEJOB_KIND,
        listKind: `${TRACEJOB_KIND}List`,
        plural: TRACEJOB_PLURAL,
        singular: TRACEJOB_SINGULAR,
        shortNames: TRACEJOB_SHORT_NAMES,
        categories: ['tracing'],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Pod', type: 'string', jsonPath: '.spec.target.pod', description: 'Target pod.' },
            {
              name: 'Selector',
              type: 'string',
              jsonPath: '.spec.target.selector.matchLabels',
              description: 'Target pods by label.',
            },
            { name: 'Tracer', type: 'string', jsonPath: '.spec.tracer.type', description: 'Tracer type.' },
            { name: 'Duration', type: 'string', jsonPath: '.spec.duration', description: 'How long it traces.' },
            {
              name: 'Phase',
              type: 'string',
              jsonPath: '.status.phase',
              description: 'Pending, Running, Succeeded or Failed.',
            },
            {
              name: 'Message',
              type: 'string',
              jsonPath: '.status.message',
              priority: 1,
              description: 'Status detail.',
            },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description:
                'A TraceJob runs a Linux tracer (perf, bpftrace, libbpf-tools, strace, ftrace, gdb) against the ' +
                'processes of pods in its namespace for a bounded time, and stores flame graphs and reports.',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string', description: `${GROUP}/${VERSION}` },
                kind: { type: 'string', description: TRACEJOB_KIND },
                metadata: { type: 'object' },
                spec: jsonSchema(TraceJobSpecSchema),
                status: jsonSchema(TraceJobStatusSchema),
              },
              'x-kubernetes-validations': [
                {
                  rule: `size(self.metadata.name) <= ${MAX_NAME_LENGTH}`,
                  message: `metadata.name: at most ${MAX_NAME_LENGTH} characters are accepted (the name becomes a label value on tracer pods)`,
                },
                {
                  // The API server accepts dots in a custom resource's name; a label value of a tracer pod does not.
                  rule: `self.metadata.name.matches('${DNS_LABEL.source}')`,
                  message:
                    'metadata.name: accepted: lowercase letters, digits and "-" (the name becomes a label value on tracer pods)',
                },
              ],
            },
          },
        },
      ],
    },
  };
}

export function tracePolicyCrd(): JSONSchemaProps {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${TRACEPOLICY_PLURAL}.${GROUP}`, labels: LABELS },
    spec: {
      group: GROUP,
      scope: 'Cluster',
      names: {
        kind: TRACEPOLICY_KIND,
        listKind: `${TRACEPOLICY_KIND}List`,
        plural: TRACEPOLICY_PLURAL,
        singular: TRACEPOLICY_SINGULAR,
        shortNames: TRACEPOLICY_SHORT_NAMES,
        categories: ['tracing'],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          additionalPrinterColumns: [
            { name: 'Priority', type: 'integer', jsonPath: '.spec.priority' },
            { name: 'Tracers', type: 'string', jsonPath: '.spec.allowedTracers' },
            { name: 'Max-Duration', type: 'string', jsonPath: '.spec.maxDuration' },
            { name: 'Custom-Bpftrace', type: 'boolean', jsonPath: '.spec.allowCustomBpftrace' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description:
                'A TracePolicy decides, for the namespaces it selects, which TraceJobs may run: tracers, tools, ' +
                'durations, concurrency, outputs, storage and kernel stacks. Without one, no TraceJob runs.',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string', description: `${GROUP}/${VERSION}` },
                kind: { type: 'string', description: TRACEPOLICY_KIND },
                metadata: { type: 'object' },
                spec: jsonSchema(TracePolicySpecSchema),
              },
            },
          },
        },
      ],
    },
  };
}

/** Where each generated CRD lives, relative to the checkout, and its contents. */
export function generatedCrdFiles(): { path: string; content: string }[] {
  const files: { path: string; content: string }[] = [];
  for (const crd of [traceJobCrd(), tracePolicyCrd()]) {
    const name = (crd.metadata as { name: string }).name;
    const [plural, ...group] = name.split('.');
    const content =
      '# Generated by scripts/generate-crds.ts from the zod schemas in src/api; do not edit by hand.\n' +
      dump(crd, { lineWidth: 120, noRefs: true, sortKeys: false });
    const file = `${group.join('.')}_${plural}.yaml`;
    files.push({ path: `crds/${file}`, content }, { path: `charts/tracejob-operator/crds/${file}`, content });
  }
  return files;
}

import { evaluate } from '@marcbachmann/cel-js';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';

type Schema = Record<string, unknown> & {
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema;
  'x-kubernetes-validations'?: { rule: string; message: string }[];
  'x-kubernetes-list-type'?: string;
};

export interface CrdViolation {
  path: string;
  message: string;
}

/**
 * What kube-apiserver does with a custom object on create or update, for tests: defaults, the OpenAPI schema, list
 * types, and the CEL rules (transition rules only when an old object is given).
 */
export function crdValidator(crd: unknown): (obj: unknown, oldObj?: unknown) => CrdViolation[] {
  const schema = (crd as { spec: { versions: { schema: { openAPIV3Schema: Schema } }[] } }).spec.versions[0]!.schema
    .openAPIV3Schema;
  const ajv = new Ajv({ strict: false, allErrors: true, useDefaults: true });
  addFormats.default(ajv);
  const validate = ajv.compile(schema);
  return (obj, oldObj) => {
    const copy = structuredClone(obj);
    const violations: CrdViolation[] = [];
    if (!validate(copy)) {
      for (const e of validate.errors ?? []) violations.push({ path: e.instancePath, message: e.message ?? '' });
    }
    walk(schema, copy, oldObj === undefined ? undefined : defaulted(ajv, schema, oldObj), '', violations);
    return violations;
  };
}

function defaulted(ajv: Ajv, schema: Schema, obj: unknown): unknown {
  const copy = structuredClone(obj);
  ajv.validate(schema, copy);
  return copy;
}

function walk(schema: Schema, value: unknown, old: unknown, path: string, out: CrdViolation[]): void {
  if (value === undefined) return;
  if (schema['x-kubernetes-list-type'] === 'set' && Array.isArray(value)) {
    if (new Set(value.map((v) => JSON.stringify(v))).size !== value.length) {
      out.push({ path, message: 'duplicate entries in a list of type set' });
    }
  }
  for (const { rule, message } of schema['x-kubernetes-validations'] ?? []) {
    const transition = /\boldSelf\b/.test(rule);
    if (transition && old === undefined) continue;
    let result: unknown;
    try {
      result = evaluate(rule, transition ? { self: value, oldSelf: old } : { self: value });
    } catch (err) {
      out.push({ path, message: `${message} (rule failed to evaluate: ${(err as Error).message})` });
      continue;
    }
    if (result !== true) out.push({ path, message });
  }
  if (schema.properties && isObject(value)) {
    for (const [name, sub] of Object.entries(schema.properties)) {
      walk(sub, value[name], isObject(old) ? old[name] : undefined, `${path}/${name}`, out);
    }
  }
  if (schema.additionalProperties && isObject(value)) {
    for (const [name, sub] of Object.entries(value)) {
      walk(schema.additionalProperties, sub, undefined, `${path}/${name}`, out);
    }
  }
  if (schema.items && Array.isArray(value)) {
    value.forEach((item, i) => walk(schema.items!, item, undefined, `${path}/${i}`, out));
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

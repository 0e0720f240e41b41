import { parse as parseCel } from '@marcbachmann/cel-js';
import type { FieldError } from './errors.ts';
import { clone, isObject, type Json } from './patch.ts';

/** The structural OpenAPI v3 schema of a CRD version (the subset kube-apiserver allows). */
export interface Schema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  enum?: Json[];
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minProperties?: number;
  maxProperties?: number;
  nullable?: boolean;
  default?: Json;
  description?: string;
  allOf?: Schema[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  not?: Schema;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: string;
  'x-kubernetes-validations'?: {
    rule: string;
    message?: string;
    messageExpression?: string;
    reason?: string;
    fieldPath?: string;
    optionalOldSelf?: boolean;
  }[];
}

const objectMetaKeys = new Set([
  'name',
  'generateName',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
  'selfLink',
]);

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/**
 * Drops fields the schema does not declare (unless x-kubernetes-preserve-unknown-fields), returning their paths so
 * that `fieldValidation=Strict` can refuse them and `Warn` can name them.
 */
export function prune(value: Json, schema: Schema | undefined, path = '', root = true): string[] {
  const dropped: string[] = [];
  if (!schema) return dropped;
  if (Array.isArray(value)) {
    value.forEach((v, i) => dropped.push(...prune(v, schema.items, `${path}[${i}]`, false)));
    return dropped;
  }
  if (!isObject(value)) return dropped;
  const embedded = root || schema['x-kubernetes-embedded-resource'];
  for (const key of Object.keys(value)) {
    const child = value[key] as Json;
    if (embedded && (key === 'apiVersion' || key === 'kind')) continue;
    if (embedded && key === 'metadata') {
      if (isObject(child))
        for (const k of Object.keys(child))
          if (!objectMetaKeys.has(k)) {
            delete child[k];
            dropped.push(join(join(path, 'metadata'), k));
          }
      continue;
    }
    const propSchema = schema.properties?.[key];
    if (propSchema) dropped.push(...prune(child, propSchema, join(path, key), false));
    else if (isObject(schema.additionalProperties))
      dropped.push(...prune(child, schema.additionalProperties, join(path, key), false));
    else if (!schema['x-kubernetes-preserve-unknown-fields'] && schema.additionalProperties !== true) {
      delete value[key];
      dropped.push(join(path, key));
    }
  }
  return dropped;
}

/** Fills in schema defaults for absent (or null, when not nullable) properties, recursively. */
export function applyDefaults(value: Json, schema: Schema | undefined): void {
  if (!schema) return;
  if (Array.isArray(value)) {
    for (const v of value) applyDefaults(v, schema.items);
    return;
  }
  if (!isObject(value)) return;
  for (const [key, prop] of Object.entries(schema.properties ?? {})) {
    if (prop.default !== undefined && (value[key] === undefined || (value[key] === null && !prop.nullable)))
      value[key] = clone(prop.default);
  }
  for (const [key, child] of Object.entries(value)) {
    const prop =
      schema.properties?.[key] ?? (isObject(schema.additionalProperties) ? schema.additionalProperties : undefined);
    applyDefaults(child, prop);
  }
}

function typeOf(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(v: Json, schema: Schema): boolean {
  if (schema['x-kubernetes-int-or-string'])
    return typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v));
  if (!schema.type) return true;
  const t = typeOf(v);
  if (schema.type === 'number') return t === 'number' || t === 'integer';
  return t === schema.type;
}

const compiledPatterns = new Map<string, RegExp>();
function regex(pattern: string): RegExp {
  let re = compiledPatterns.get(pattern);
  if (!re) {
    re = new RegExp(pattern, 'u');
    compiledPatterns.set(pattern, re);
  }
  return re;
}

/** Values as CEL sees them: integers declared `integer` become CEL ints. */
function celValue(v: Json | undefined, schema: Schema | undefined): unknown {
  if (v === undefined) return undefined;
  if (schema?.type === 'integer' && typeof v === 'number') return BigInt(Math.trunc(v));
  if (schema?.['x-kubernetes-int-or-string'] && typeof v === 'number') return BigInt(Math.trunc(v));
  if (Array.isArray(v)) return v.map((x) => celValue(x, schema?.items));
  if (isObject(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const child =
        schema?.properties?.[k] ?? (isObject(schema?.additionalProperties) ? schema?.additionalProperties : undefined);
      out[k] = celValue(x, child);
    }
    return out;
  }
  return v;
}

const compiledRules = new Map<string, ReturnType<typeof parseCel>>();
function celProgram(rule: string): ReturnType<typeof parseCel> {
  let p = compiledRules.get(rule);
  if (!p) {
    p = parseCel(rule);
    compiledRules.set(rule, p);
  }
  return p;
}

/** Checks that every x-kubernetes-validations rule of a schema compiles; used when a CRD is created. */
export function compileErrors(schema: Schema | undefined, path: string): FieldError[] {
  if (!schema) return [];
  const errors: FieldError[] = [];
  (schema['x-kubernetes-validations'] ?? []).forEach((v, i) => {
    try {
      celProgram(v.rule);
    } catch (err) {
      errors.push({
        type: 'FieldValueInvalid',
        field: `${path}.x-kubernetes-validations[${i}].rule`,
        value: v.rule,
        detail: `compilation failed: ${(err as Error).message.split('\n')[0]}`,
      });
    }
  });
  for (const [k, p] of Object.entries(schema.properties ?? {}))
    errors.push(...compileErrors(p, `${path}.properties[${k}]`));
  if (isObject(schema.additionalProperties))
    errors.push(...compileErrors(schema.additionalProperties as Schema, `${path}.additionalProperties`));
  if (schema.items) errors.push(...compileErrors(schema.items, `${path}.items`));
  return errors;
}

function describe(v: Json): string {
  return typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v);
}

/** Validates a value against a structural schema, old value given on update for CEL transition rules. */
export function validate(value: Json | undefined, schema: Schema | undefined, path: string, old?: Json): FieldError[] {
  if (!schema || value === undefined) return [];
  const errors: FieldError[] = [];
  const shown = path || '<root>';
  if (value === null) {
    if (!schema.nullable && (schema.type || schema['x-kubernetes-int-or-string']))
      errors.push({
        type: 'FieldValueTypeInvalid',
        field: shown,
        value: 'null',
        detail: `${shown} in body must be of type ${schema.type ?? 'int-or-string'}: "null"`,
      });
    return errors;
  }
  if (!typeMatches(value, schema)) {
    errors.push({
      type: 'FieldValueTypeInvalid',
      field: shown,
      value: typeOf(value),
      detail: `${shown} in body must be of type ${schema['x-kubernetes-int-or-string'] ? 'integer,string' : schema.type}: ${JSON.stringify(typeOf(value))}`,
    });
    return errors;
  }
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value)))
    errors.push({
      type: 'FieldValueNotSupported',
      field: shown,
      value,
      detail: `supported values: ${schema.enum.map((e) => describe(e)).join(', ')}`,
    });
  if (typeof value === 'string') {
    if (schema.maxLength !== undefined && [...value].length > schema.maxLength)
      errors.push({
        type: 'FieldValueTooLong',
        field: shown,
        detail: `may not be more than ${schema.maxLength} bytes`,
      });
    if (schema.minLength !== undefined && [...value].length < schema.minLength)
      errors.push({
        type: 'FieldValueInvalid',
        field: shown,
        value,
        detail: `${shown} in body should be at least ${schema.minLength} chars long`,
      });
    if (schema.pattern !== undefined && !regex(schema.pattern).test(value))
      errors.push({
        type: 'FieldValueInvalid',
        field: shown,
        value,
        detail: `${shown} in body should match '${schema.pattern}'`,
      });
    if (schema.format === 'date-time' && Number.isNaN(Date.parse(value)))
      errors.push({
        type: 'FieldValueInvalid',
        field: shown,
        value,
        detail: `${shown} in body must be of type date-time: ${JSON.stringify(value)}`,
      });
  }
  if (typeof value === 'number') {
    const { minimum, maximum } = schema;
    if (minimum !== undefined && (schema.exclusiveMinimum ? value <= minimum : value < minimum))
      errors.push({
        type: 'FieldValueInvalid',
        field: shown,
        value,
        detail: `${shown} in body should be greater than ${schema.exclusiveMinimum ? '' : 'or equal to '}${minimum}`,
      });
    if (maximum !== undefined && (schema.exclusiveMaximum ? value >= maximum : value > maximum))
      errors.push({
        type: 'FieldValueInvalid',
        field: shown,
        value,
        detail: `${shown} in body should be less than ${schema.exclusiveMaximum ? '' : 'or equal to '}${maximum}`,
      });
    if (schema.multipleOf !== undefined && value % schema.multipleOf !== 0)
      errors.push({
        type: 'FieldValueInvalid',
        field: shown,
        value,
        detail: `${shown} in body should be a multiple of ${schema.multipleOf}`,
      });
    if (schema.format === 'int32' && (value > 2147483647 || value < -2147483648))
      errors.push({ type: 'FieldValueInvalid', field: shown, value, detail: `${shown} in body must be of type int32` });
  }
  if (Array.isArray(value)) {
    if (schema.maxItems !== undefined && value.length > schema.maxItems)
      errors.push({
        type: 'FieldValueTooMany',
        field: shown,
        value: value.length,
        detail: `must have at most ${schema.maxItems} items`,
      });
    if (schema.minItems !== undefined && value.length < schema.minItems)
      errors.push({
        type: 'FieldValueInvalid',
        field: shown,
        value: value.length,
        detail: `${shown} in body should have at least ${schema.minItems} items`,
      });
    const listType = schema['x-kubernetes-list-type'];
    const seen = new Set<string>();
    value.forEach((item, i) => {
      const key =
        listType === 'map' && isObject(item)
          ? JSON.stringify((schema['x-kubernetes-list-map-keys'] ?? []).map((k) => item[k]))
          : listType === 'set' || schema.uniqueItems
            ? JSON.stringify(item)
            : undefined;
      if (key !== undefined) {
        if (seen.has(key))
          errors.push({ type: 'FieldValueDuplicate', field: `${shown}[${i}]`, value: item, detail: '' });
        seen.add(key);
      }
      const oldItem =
        Array.isArray(old) && listType === 'map' && isObject(item)
          ? old.find(
              (o) =>
                isObject(o) &&
                (schema['x-kubernetes-list-map-keys'] ?? []).every(
                  (k) => JSON.stringify(o[k]) === JSON.stringify(item[k]),
                ),
            )
          : undefined;
      errors.push(...validate(item, schema.items, `${path}[${i}]`, oldItem));
    });
  }
  if (isObject(value)) {
    for (const req of schema.required ?? [])
      if (value[req] === undefined) errors.push({ type: 'FieldValueRequired', field: join(path, req), detail: '' });
    const count = Object.keys(value).length;
    if (schema.maxProperties !== undefined && count > schema.maxProperties)
      errors.push({
        type: 'FieldValueTooMany',
        field: shown,
        value: count,
        detail: `must have at most ${schema.maxProperties} items`,
      });
    if (schema.minProperties !== undefined && count < schema.minProperties)
      errors.push({
        type: 'FieldValueInvalid',
        field: shown,
        value: count,
        detail: `${shown} in body should have at least ${schema.minProperties} properties`,
      });
    for (const [k, v] of Object.entries(value)) {
      if (path === '' && (k === 'metadata' || k === 'apiVersion' || k === 'kind')) continue;
      const prop =
        schema.properties?.[k] ??
        (isObject(schema.additionalProperties) ? (schema.additionalProperties as Schema) : undefined);
      errors.push(...validate(v, prop, join(path, k), isObject(old) ? old[k] : undefined));
    }
  }
  for (const sub of schema.allOf ?? []) errors.push(...validate(value, sub, path, old));
  if (schema.anyOf && !schema.anyOf.some((s) => validate(value, s, path).length === 0))
    errors.push({
      type: 'FieldValueInvalid',
      field: shown,
      value,
      detail: 'must validate at least one schema (anyOf)',
    });
  if (schema.oneOf && schema.oneOf.filter((s) => validate(value, s, path).length === 0).length !== 1)
    errors.push({
      type: 'FieldValueInvalid',
      field: shown,
      value,
      detail: 'must validate one and only one schema (oneOf)',
    });
  if (schema.not && validate(value, schema.not, path).length === 0)
    errors.push({ type: 'FieldValueInvalid', field: shown, value, detail: 'must not validate the schema (not)' });
  if (errors.length === 0) errors.push(...celErrors(value, schema, path, old));
  return errors;
}

function celErrors(value: Json, schema: Schema, path: string, old: Json | undefined): FieldError[] {
  const errors: FieldError[] = [];
  for (const rule of schema['x-kubernetes-validations'] ?? []) {
    const transition = /\boldSelf\b/.test(rule.rule);
    if (transition && old === undefined && !rule.optionalOldSelf) continue;
    const field = rule.fieldPath ? `${path}${rule.fieldPath}` : path || '<root>';
    let ok: unknown;
    const context = { self: celValue(value, schema), oldSelf: celValue(old, schema) };
    try {
      ok = celProgram(rule.rule)(context);
    } catch (err) {
      errors.push({
        type: 'FieldValueInvalid',
        field,
        value: value,
        detail: `rule evaluation failed: ${(err as Error).message.split('\n')[0]}`,
      });
      continue;
    }
    if (ok === true) continue;
    let message = rule.message ?? `failed rule: ${rule.rule}`;
    if (rule.messageExpression) {
      try {
        const m = celProgram(rule.messageExpression)(context);
        if (typeof m === 'string' && m !== '') message = m;
      } catch {
        // kube-apiserver falls back to the static message when the expression fails
      }
    }
    const type: FieldError['type'] =
      rule.reason === 'FieldValueRequired'
        ? 'FieldValueRequired'
        : rule.reason === 'FieldValueForbidden'
          ? 'FieldValueForbidden'
          : rule.reason === 'FieldValueDuplicate'
            ? 'FieldValueDuplicate'
            : 'FieldValueInvalid';
    errors.push(
      type === 'FieldValueInvalid'
        ? { type, field, value: summarise(value), detail: message }
        : { type, field, detail: message },
    );
  }
  return errors;
}

/** kube-apiserver prints "object" instead of dumping a whole sub-document into the message. */
function summarise(value: Json): Json {
  if (isObject(value)) return 'object';
  if (Array.isArray(value)) return 'array';
  return value;
}

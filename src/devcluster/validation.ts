import type { FieldError } from './errors.ts';

const dns1123LabelRe = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123SubdomainRe = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const qualifiedNameRe = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const labelValueRe = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export type NameRule = 'subdomain' | 'label' | 'path-segment';

/** Messages follow k8s.io/apimachinery/pkg/util/validation so that users see what kube-apiserver would say. */
export function validateName(name: string, rule: NameRule, field = 'metadata.name'): FieldError[] {
  const errors: FieldError[] = [];
  const invalidValue = (detail: string): void => {
    errors.push({ type: 'FieldValueInvalid', field, value: name, detail });
  };
  if (rule === 'label') {
    if (name.length > 63) invalidValue('must be no more than 63 characters');
    if (!dns1123LabelRe.test(name))
      invalidValue(
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
      );
  } else if (rule === 'subdomain') {
    if (name.length > 253) invalidValue('must be no more than 253 characters');
    if (!dns1123SubdomainRe.test(name))
      invalidValue(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      );
  } else {
    if (name === '.' || name === '..') invalidValue(`may not be '${name}'`);
    if (name.includes('/') || name.includes('%')) invalidValue(`may not contain '/' or '%'`);
  }
  return errors;
}

/** A qualified key: optional DNS-subdomain prefix and '/', then a name of at most 63 characters. */
function validateQualifiedName(key: string, field: string): FieldError[] {
  const errors: FieldError[] = [];
  const slash = key.split('/');
  let name = key;
  if (slash.length > 2) {
    return [
      {
        type: 'FieldValueInvalid',
        field,
        value: key,
        detail:
          "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
      },
    ];
  }
  if (slash.length === 2) {
    const prefix = slash[0] ?? '';
    name = slash[1] ?? '';
    if (prefix.length === 0)
      errors.push({ type: 'FieldValueInvalid', field, value: key, detail: 'prefix part must be non-empty' });
    else if (prefix.length > 253 || !dns1123SubdomainRe.test(prefix))
      errors.push({
        type: 'FieldValueInvalid',
        field,
        value: key,
        detail:
          "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
      });
  }
  if (name.length === 0)
    errors.push({ type: 'FieldValueInvalid', field, value: key, detail: 'name part must be non-empty' });
  else if (name.length > 63)
    errors.push({
      type: 'FieldValueInvalid',
      field,
      value: key,
      detail: 'name part must be no more than 63 characters',
    });
  else if (!qualifiedNameRe.test(name))
    errors.push({
      type: 'FieldValueInvalid',
      field,
      value: key,
      detail:
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
    });
  return errors;
}

export function validateLabels(labels: unknown, field = 'metadata.labels'): FieldError[] {
  if (labels === undefined || labels === null) return [];
  if (typeof labels !== 'object' || Array.isArray(labels))
    return [
      { type: 'FieldValueInvalid', field, value: labels, detail: 'must be a map of string keys to string values' },
    ];
  const errors: FieldError[] = [];
  for (const [k, v] of Object.entries(labels)) {
    errors.push(...validateQualifiedName(k, field));
    if (typeof v !== 'string') {
      errors.push({
        type: 'FieldValueInvalid',
        field,
        value: v,
        detail: `label value for ${k} must be a string`,
      });
      continue;
    }
    if (v.length > 63)
      errors.push({ type: 'FieldValueInvalid', field, value: v, detail: 'must be no more than 63 characters' });
    else if (!labelValueRe.test(v))
      errors.push({
        type: 'FieldValueInvalid',
        field,
        value: v,
        detail:
          "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
      });
  }
  return errors;
}

const totalAnnotationSizeLimit = 256 * 1024;

export function validateAnnotations(annotations: unknown, field = 'metadata.annotations'): FieldError[] {
  if (annotations === undefined || annotations === null) return [];
  if (typeof annotations !== 'object' || Array.isArray(annotations))
    return [
      { type: 'FieldValueInvalid', field, value: annotations, detail: 'must be a map of string keys to string values' },
    ];
  const errors: FieldError[] = [];
  let total = 0;
  for (const [k, v] of Object.entries(annotations)) {
    errors.push(...validateQualifiedName(k.toLowerCase(), field));
    if (typeof v !== 'string')
      errors.push({ type: 'FieldValueInvalid', field, value: v, detail: `annotation value for ${k} must be a string` });
    total += k.length + (typeof v === 'string' ? v.length : 0);
  }
  if (total > totalAnnotationSizeLimit)
    errors.push({ type: 'FieldValueTooLong', field, detail: `may not be more than ${totalAnnotationSizeLimit} bytes` });
  return errors;
}

export function validateFinalizers(finalizers: unknown, field = 'metadata.finalizers'): FieldError[] {
  if (finalizers === undefined || finalizers === null) return [];
  if (!Array.isArray(finalizers))
    return [{ type: 'FieldValueInvalid', field, value: finalizers, detail: 'must be a list of strings' }];
  const errors: FieldError[] = [];
  finalizers.forEach((f, i) => {
    if (typeof f !== 'string')
      errors.push({ type: 'FieldValueInvalid', field: `${field}[${i}]`, value: f, detail: 'must be a string' });
    else errors.push(...validateQualifiedName(f, `${field}[${i}]`));
  });
  return errors;
}

export function validateOwnerReferences(refs: unknown, field = 'metadata.ownerReferences'): FieldError[] {
  if (refs === undefined || refs === null) return [];
  if (!Array.isArray(refs)) return [{ type: 'FieldValueInvalid', field, value: refs, detail: 'must be a list' }];
  const errors: FieldError[] = [];
  let controllers = 0;
  refs.forEach((r: Record<string, unknown>, i) => {
    const f = `${field}[${i}]`;
    for (const key of ['apiVersion', 'kind', 'name', 'uid'])
      if (typeof r?.[key] !== 'string' || r[key] === '')
        errors.push({ type: 'FieldValueRequired', field: `${f}.${key}`, detail: `${key} must not be empty` });
    if (r?.controller === true) controllers++;
  });
  if (controllers > 1)
    errors.push({
      type: 'FieldValueInvalid',
      field,
      value: refs.length,
      detail: 'Only one reference can have Controller set to true',
    });
  return errors;
}

import type { z } from 'zod';
import type { FieldError } from './common.ts';

/** `spec.outputs[2].name` from a zod path. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out || '.';
}

/** The object schema at a path, to list the fields it accepts. */
function objectKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] | undefined {
  let current: unknown = schema;
  const unwrap = () => {
    for (;;) {
      const def = (current as { _zod?: { def?: { type?: string; innerType?: unknown; in?: unknown } } })._zod?.def;
      if (!def) return;
      if (def.innerType !== undefined) current = def.innerType;
      else if (def.type === 'pipe') current = def.in;
      else return;
    }
  };
  for (const part of path) {
    unwrap();
    const def = (current as { _zod: { def: { type: string; shape?: Record<string, unknown>; element?: unknown } } })
      ._zod.def;
    if (def.type === 'object' && typeof part === 'string' && def.shape?.[part]) current = def.shape[part];
    else if (def.type === 'array' && typeof part === 'number') current = def.element;
    else return undefined;
  }
  unwrap();
  const def = (current as { _zod: { def: { type: string; shape?: Record<string, unknown> } } })._zod.def;
  return def.type === 'object' && def.shape ? Object.keys(def.shape) : undefined;
}

/** Turns zod issues into errors that name the field and say what is accepted. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], schema: z.ZodType): FieldError[] {
  const errors: FieldError[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const accepted = objectKeysAt(schema, issue.path);
      for (const key of issue.keys) {
        errors.push({
          field: fieldPath([...issue.path, key]),
          message: `unknown field${accepted ? `; accepted: ${accepted.join(', ')}` : ''}`,
        });
      }
      continue;
    }
    if (issue.code === 'invalid_type' && issue.input === undefined) {
      const detail = issue.message.includes('accepted') ? `; ${issue.message}` : '';
      errors.push({ field: fieldPath(issue.path), message: `required${detail}` });
      continue;
    }
    errors.push({ field: fieldPath(issue.path), message: issue.message });
  }
  return errors;
}

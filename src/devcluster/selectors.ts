import { badRequest } from './errors.ts';

type Requirement =
  | { op: 'eq' | 'neq'; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: 'exists' | 'notexists'; key: string };

export type LabelSelector = (labels: Record<string, string> | undefined) => boolean;

/** Splits on commas that are not inside a `(...)` value set. */
function splitTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      terms.push(current);
      current = '';
    } else current += ch;
  }
  terms.push(current);
  return terms.map((t) => t.trim()).filter((t) => t !== '');
}

const keyRe =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const valueRe = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function checkKey(key: string, selector: string): string {
  if (!keyRe.test(key))
    throw badRequest(`unable to parse requirement: invalid label key "${key}" in selector "${selector}"`);
  return key;
}

function checkValue(value: string, selector: string): string {
  if (value.length > 63 || !valueRe.test(value))
    throw badRequest(`unable to parse requirement: invalid label value: "${value}" in selector "${selector}"`);
  return value;
}

/** Parses the label selector grammar of k8s.io/apimachinery/pkg/labels (equality- and set-based). */
export function parseLabelSelector(selector: string | undefined): LabelSelector {
  if (!selector) return () => true;
  const requirements: Requirement[] = splitTerms(selector).map((term): Requirement => {
    let m = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term);
    if (m) {
      const values = (m[3] ?? '').split(',').map((v) => checkValue(v.trim(), selector));
      return { op: m[2] as 'in' | 'notin', key: checkKey(m[1] ?? '', selector), values };
    }
    m = /^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
    if (m)
      return {
        op: m[2] === '!=' ? 'neq' : 'eq',
        key: checkKey(m[1] ?? '', selector),
        value: checkValue(m[3] ?? '', selector),
      };
    m = /^!\s*(\S+)$/.exec(term);
    if (m) return { op: 'notexists', key: checkKey(m[1] ?? '', selector) };
    if (/^\S+$/.test(term)) return { op: 'exists', key: checkKey(term, selector) };
    throw badRequest(
      `unable to parse requirement: found '${term}', expected: in, notin, =, ==, !=, gt, lt in selector "${selector}"`,
    );
  });
  return (labels) => requirements.every((r) => matches(r, labels ?? {}));
}

function matches(r: Requirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, r.key);
  const value = labels[r.key];
  switch (r.op) {
    case 'eq':
      return has && value === r.value;
    case 'neq':
      return !has || value !== r.value;
    case 'in':
      return has && r.values.includes(value ?? '');
    case 'notin':
      return !has || !r.values.includes(value ?? '');
    case 'exists':
      return has;
    case 'notexists':
      return !has;
  }
}

/** Label selector object (`matchLabels`/`matchExpressions`), as in Deployments and PDBs. */
export function labelSelectorObjectMatches(
  sel:
    | {
        matchLabels?: Record<string, string>;
        matchExpressions?: { key: string; operator: string; values?: string[] }[];
      }
    | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  if (!sel) return false;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(l, e.key);
    const ok =
      e.operator === 'In'
        ? has && (e.values ?? []).includes(l[e.key] ?? '')
        : e.operator === 'NotIn'
          ? !has || !(e.values ?? []).includes(l[e.key] ?? '')
          : e.operator === 'Exists'
            ? has
            : e.operator === 'DoesNotExist'
              ? !has
              : false;
    if (!ok) return false;
  }
  return true;
}

export type FieldGetter = (obj: Record<string, unknown>) => string | undefined;
export type FieldSelector = (obj: Record<string, unknown>) => boolean;

/**
 * Field selectors accept only the fields the resource declares (kube-apiserver: metadata.name and metadata.namespace for
 * every kind, plus a per-kind set); anything else is a 400, as users would otherwise silently get everything.
 */
export function parseFieldSelector(
  selector: string | undefined,
  fields: Record<string, FieldGetter>,
  resource: string,
): FieldSelector {
  if (!selector) return () => true;
  const terms = splitTerms(selector).map((term) => {
    const m = /^([^!=\s]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${selector}'; can't understand '${term}'`);
    const field = m[1] ?? '';
    const getter = fields[field];
    if (!getter) throw badRequest(`field label not supported: ${field}`.concat(resource ? '' : ''));
    return { getter, negate: m[2] === '!=', value: unescapeFieldValue(m[3] ?? '') };
  });
  return (obj) => terms.every((t) => ((t.getter(obj) ?? '') === t.value) !== t.negate);
}

function unescapeFieldValue(v: string): string {
  return v.replace(/\\(.)/g, '$1');
}

function path(obj: Record<string, unknown>, ...keys: string[]): string | undefined {
  let cur: unknown = obj;
  for (const k of keys) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  if (cur === undefined || cur === null) return undefined;
  return typeof cur === 'string' ? cur : String(cur);
}

export const metadataFields: Record<string, FieldGetter> = {
  'metadata.name': (o) => path(o, 'metadata', 'name'),
  'metadata.namespace': (o) => path(o, 'metadata', 'namespace'),
};

export function fieldsAt(spec: Record<string, string[]>): Record<string, FieldGetter> {
  const out: Record<string, FieldGetter> = { ...metadataFields };
  for (const [name, keys] of Object.entries(spec)) out[name] = (o) => path(o, ...keys);
  return out;
}

import { ApiError } from './errors.ts';
import { isObject, type Json, type JsonObject } from './patch.ts';

/** Fields identified in FieldsV1 form: `f:name` steps through an object, `k:{"name":"x"}` through a keyed list. */
type Path = string[];

const listKeys = ['name', 'containerPort', 'port', 'mountPath', 'type', 'uid', 'ip', 'key'];

/** The FieldsV1 set of the fields an object sets. Metadata counts only for labels, annotations, finalizers, owners. */
export function fieldSet(v: Json, path: string[] = []): JsonObject {
  const out: JsonObject = {};
  if (!isObject(v)) return out;
  for (const [k, x] of Object.entries(v)) {
    if (path.length === 0 && (k === 'apiVersion' || k === 'kind')) continue;
    if (
      path.length === 1 &&
      path[0] === 'metadata' &&
      !['labels', 'annotations', 'finalizers', 'ownerReferences'].includes(k)
    )
      continue;
    if (path.length === 0 && k === 'metadata') {
      // Only labels, annotations, finalizers and owners are owned; name, uid and the rest are the server's.
      const owned = fieldSet(x, ['metadata']);
      if (Object.keys(owned).length) out['f:metadata'] = owned;
    } else if (isObject(x) && Object.keys(x).length > 0) out[`f:${k}`] = fieldSet(x, [...path, k]);
    else if (
      Array.isArray(x) &&
      x.length &&
      x.every((i) => isObject(i) && listKeys.some((lk) => i[lk] !== undefined))
    ) {
      const items: JsonObject = {};
      for (const i of x as JsonObject[]) {
        const lk = listKeys.find((l) => i[l] !== undefined) as string;
        items[`k:${JSON.stringify({ [lk]: i[lk] })}`] = { '.': {}, ...fieldSet(i, [...path, k]) };
      }
      out[`f:${k}`] = items;
    } else out[`f:${k}`] = {};
  }
  return out;
}

function leaves(fs: JsonObject, prefix: Path = []): Path[] {
  const out: Path[] = [];
  for (const [k, sub] of Object.entries(fs)) {
    if (k === '.') {
      out.push(prefix);
      continue;
    }
    if (isObject(sub) && Object.keys(sub).length > 0) out.push(...leaves(sub, [...prefix, k]));
    else out.push([...prefix, k]);
  }
  return out;
}

function fromLeaves(paths: Path[]): JsonObject {
  const root: JsonObject = {};
  for (const p of paths) {
    let cur = root;
    for (const step of p) {
      cur[step] ??= {};
      cur = cur[step] as JsonObject;
    }
    if (p.length && p[p.length - 1]?.startsWith('k:')) cur['.'] = {};
  }
  return root;
}

function valueAt(obj: Json | undefined, path: Path): Json | undefined {
  let cur: Json | undefined = obj;
  for (const step of path) {
    if (cur === undefined) return undefined;
    if (step.startsWith('f:')) cur = isObject(cur) ? cur[step.slice(2)] : undefined;
    else if (step.startsWith('k:')) {
      const [key, value] = Object.entries(JSON.parse(step.slice(2)) as JsonObject)[0] ?? ['', null];
      cur = Array.isArray(cur)
        ? cur.find((i) => isObject(i) && JSON.stringify(i[key]) === JSON.stringify(value))
        : undefined;
    }
  }
  return cur;
}

const keyOf = (p: Path): string => JSON.stringify(p);

/** Paths that differ between two versions of an object. */
export function changedFields(before: Json | undefined, after: Json): Path[] {
  const candidates = new Map<string, Path>();
  for (const p of [...leaves(fieldSet(after)), ...(before === undefined ? [] : leaves(fieldSet(before)))])
    candidates.set(keyOf(p), p);
  return [...candidates.values()].filter(
    (p) => JSON.stringify(valueAt(before, p)) !== JSON.stringify(valueAt(after, p)),
  );
}

interface Entry extends JsonObject {
  manager: string;
  operation: string;
  apiVersion: string;
  time: string;
  fieldsType: string;
  fieldsV1: JsonObject;
}

function sameSlot(e: JsonObject, manager: string, operation: string, subresource: string | undefined): boolean {
  return e.manager === manager && e.operation === operation && (e.subresource ?? '') === (subresource ?? '');
}

function without(entries: JsonObject[], paths: Path[], keep: (e: JsonObject) => boolean): JsonObject[] {
  const drop = new Set(paths.map(keyOf));
  return entries
    .map((e) => {
      if (keep(e)) return e;
      const remaining = leaves((e.fieldsV1 ?? {}) as JsonObject).filter(
        (p) => !drop.has(keyOf(p)) && !paths.some((d) => isPrefix(d, p)),
      );
      return { ...e, fieldsV1: fromLeaves(remaining) };
    })
    .filter((e) => keep(e) || Object.keys(e.fieldsV1 as JsonObject).length > 0);
}

function isPrefix(prefix: Path, p: Path): boolean {
  return prefix.length < p.length && prefix.every((s, i) => p[i] === s);
}

/** An Update (create, PUT, patch) takes ownership of the fields it changed. */
export function recordUpdate(
  managed: JsonObject[],
  manager: string,
  apiVersion: string,
  subresource: string | undefined,
  changed: Path[],
  time: string,
): JsonObject[] {
  if (!changed.length) return managed;
  const mine = (e: JsonObject): boolean => sameSlot(e, manager, 'Update', subresource);
  const rest = without(managed, changed, mine);
  const existing = rest.find(mine) as Entry | undefined;
  const owned = new Map<string, Path>();
  for (const p of [...leaves(existing?.fieldsV1 ?? {}), ...changed]) owned.set(keyOf(p), p);
  const entry: Entry = {
    manager,
    operation: 'Update',
    apiVersion,
    time,
    fieldsType: 'FieldsV1',
    fieldsV1: fromLeaves([...owned.values()]),
    ...(subresource ? { subresource } : {}),
  };
  return [...rest.filter((e) => !mine(e)), entry];
}

function displayPath(p: Path): string {
  return p
    .map((s) => {
      if (s.startsWith('f:')) return `.${s.slice(2)}`;
      const [k, v] = Object.entries(JSON.parse(s.slice(2)) as JsonObject)[0] ?? ['', ''];
      return `[${k}=${JSON.stringify(v)}]`;
    })
    .join('');
}

/**
 * Server-side apply ownership: an applied value that differs from the live one, on a field another manager owns, is a
 * conflict (409) unless forced; forcing moves ownership to the applier.
 */
export function applyOwnership(
  managed: JsonObject[],
  manager: string,
  subresource: string | undefined,
  applied: Json,
  live: Json,
  force: boolean,
): JsonObject[] {
  const mine = (e: JsonObject): boolean => sameSlot(e, manager, 'Apply', subresource);
  const contested: { path: Path; owners: JsonObject[] }[] = [];
  for (const p of leaves(fieldSet(applied))) {
    if (JSON.stringify(valueAt(applied, p)) === JSON.stringify(valueAt(live, p))) continue;
    const owners = managed.filter(
      (e) =>
        !mine(e) &&
        (e.subresource ?? '') === (subresource ?? '') &&
        leaves((e.fieldsV1 ?? {}) as JsonObject).some((q) => keyOf(q) === keyOf(p)),
    );
    if (owners.length) contested.push({ path: p, owners });
  }
  if (!contested.length) return managed;
  if (!force) {
    const causes = contested.flatMap(({ path, owners }) =>
      owners.map((o) => ({
        reason: 'FieldManagerConflict',
        message: `conflict with "${String(o.manager)}"${o.operation === 'Update' ? ` using ${String(o.apiVersion)}` : ''}`,
        field: displayPath(path),
      })),
    );
    throw new ApiError(
      409,
      'Conflict',
      `Apply failed with ${causes.length} conflict${causes.length === 1 ? '' : 's'}: ${causes.map((c) => `${c.message}: ${c.field}`).join('\n')}`,
      { causes },
    );
  }
  return without(
    managed,
    contested.map((c) => c.path),
    mine,
  );
}

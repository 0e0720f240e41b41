import { ApiError, badRequest } from './errors.ts';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function clone<T>(v: T): T {
  return structuredClone(v);
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function patchFailure(message: string): ApiError {
  return new ApiError(422, 'Invalid', message);
}

function decodePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw patchFailure(`invalid JSON pointer "${pointer}": must start with '/'`);
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** RFC 6902 JSON patch. Failures are 422s, as kube-apiserver reports them. */
export function jsonPatch(doc: Json, ops: unknown): Json {
  if (!Array.isArray(ops)) throw badRequest('json patch must be a JSON array of operations');
  let root = clone(doc);
  const parentOf = (tokens: string[], op: string): { parent: Json; key: string } => {
    let cur: Json = root;
    for (const t of tokens.slice(0, -1)) {
      const next: Json | undefined = Array.isArray(cur) ? cur[Number(t)] : isObject(cur) ? cur[t] : undefined;
      if (next === undefined)
        throw patchFailure(`jsonpatch ${op} operation does not apply: doc is missing path: /${tokens.join('/')}`);
      cur = next;
    }
    return { parent: cur, key: tokens[tokens.length - 1] ?? '' };
  };
  const get = (pointer: string, op: string): Json => {
    let cur: Json = root;
    for (const t of decodePointer(pointer)) {
      const next: Json | undefined = Array.isArray(cur) ? cur[Number(t)] : isObject(cur) ? cur[t] : undefined;
      if (next === undefined)
        throw patchFailure(`jsonpatch ${op} operation does not apply: doc is missing path: ${pointer}`);
      cur = next;
    }
    return cur;
  };
  const remove = (pointer: string, op: string): Json => {
    const tokens = decodePointer(pointer);
    if (tokens.length === 0) throw patchFailure(`jsonpatch ${op} operation can not remove the document root`);
    const { parent, key } = parentOf(tokens, op);
    if (Array.isArray(parent)) {
      const i = Number(key);
      if (!Number.isInteger(i) || i < 0 || i >= parent.length)
        throw patchFailure(`jsonpatch ${op} operation does not apply: index out of range: ${pointer}`);
      return parent.splice(i, 1)[0] as Json;
    }
    if (!isObject(parent) || !(key in parent))
      throw patchFailure(`jsonpatch ${op} operation does not apply: doc is missing key: ${pointer}`);
    const old = parent[key] as Json;
    delete parent[key];
    return old;
  };
  const add = (pointer: string, value: Json, op: string, replace: boolean): void => {
    const tokens = decodePointer(pointer);
    if (tokens.length === 0) {
      root = value;
      return;
    }
    const { parent, key } = parentOf(tokens, op);
    if (Array.isArray(parent)) {
      const i = key === '-' ? parent.length : Number(key);
      if (!Number.isInteger(i) || i < 0 || i > parent.length || (replace && i >= parent.length))
        throw patchFailure(`jsonpatch ${op} operation does not apply: index out of range: ${pointer}`);
      parent.splice(i, replace ? 1 : 0, value);
    } else if (isObject(parent)) {
      if (replace && !(key in parent))
        throw patchFailure(`jsonpatch ${op} operation does not apply: doc is missing key: ${pointer}`);
      parent[key] = value;
    } else throw patchFailure(`jsonpatch ${op} operation does not apply: parent of ${pointer} is not a container`);
  };
  for (const raw of ops) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string')
      throw badRequest('each json patch operation needs string "op" and "path"');
    const { op, path } = raw;
    const from = typeof raw.from === 'string' ? raw.from : undefined;
    switch (op) {
      case 'add':
        if (!('value' in raw)) throw badRequest(`json patch "add" at ${path} has no "value"`);
        add(path, clone(raw.value as Json), op, false);
        break;
      case 'replace':
        if (!('value' in raw)) throw badRequest(`json patch "replace" at ${path} has no "value"`);
        add(path, clone(raw.value as Json), op, true);
        break;
      case 'remove':
        remove(path, op);
        break;
      case 'move':
        if (from === undefined) throw badRequest(`json patch "move" at ${path} has no "from"`);
        add(path, remove(from, op), op, false);
        break;
      case 'copy':
        if (from === undefined) throw badRequest(`json patch "copy" at ${path} has no "from"`);
        add(path, clone(get(from, op)), op, false);
        break;
      case 'test':
        if (JSON.stringify(get(path, op)) !== JSON.stringify(raw.value))
          throw patchFailure(`testing value ${path} failed: the value is not ${JSON.stringify(raw.value)}`);
        break;
      default:
        throw badRequest(`unknown json patch operation "${op}"; accepted: add, remove, replace, move, copy, test`);
    }
  }
  return root;
}

/**
 * Merge keys of the built-in types' lists, by field name (parent field for `ports`). Lists not named here are atomic,
 * as in the Go struct tags (`patchStrategy:"merge" patchMergeKey:...`).
 */
function mergeKeyFor(field: string, parentPath: string[]): string | null | undefined {
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'env':
    case 'volumes':
    case 'imagePullSecrets':
    case 'resourceClaims':
    case 'schedulingGates':
      return 'name';
    case 'ports':
      return parentPath.some((p) => p === 'containers' || p === 'initContainers') ? 'containerPort' : 'port';
    case 'volumeMounts':
      return 'mountPath';
    case 'volumeDevices':
      return 'devicePath';
    case 'conditions':
      return 'type';
    case 'addresses':
      return parentPath.includes('status') ? 'type' : undefined;
    case 'hostAliases':
      return 'ip';
    case 'ownerReferences':
      return 'uid';
    case 'topologySpreadConstraints':
      return 'topologyKey';
    case 'readinessGates':
      return 'conditionType';
    case 'finalizers':
      return null; // merge of a primitive list: union
    default:
      return undefined;
  }
}

/** Strategic merge patch (the subset kubectl apply and kubectl patch produce for built-in kinds). */
export function strategicMergePatch(target: Json | undefined, patch: Json, path: string[] = []): Json {
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === 'replace') {
    const rest = { ...patch };
    delete rest.$patch;
    return stripDirectives(rest);
  }
  if (patch.$patch === 'delete') return null;
  const out: JsonObject = isObject(target) ? { ...target } : {};
  const retain = patch.$retainKeys;
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys' || k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      const current = out[field];
      if (Array.isArray(current) && Array.isArray(v))
        out[field] = current.filter((x) => !v.some((d) => JSON.stringify(d) === JSON.stringify(x)));
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    if (Array.isArray(v)) {
      const key = mergeKeyFor(k, path);
      out[k] = key === undefined ? stripDirectives(v) : mergeList(out[k], v, key, [...path, k]);
      continue;
    }
    if (isObject(v)) {
      const merged = strategicMergePatch(out[k], v, [...path, k]);
      if (merged === null) delete out[k];
      else out[k] = merged;
      continue;
    }
    out[k] = v;
  }
  if (Array.isArray(retain)) for (const k of Object.keys(out)) if (!retain.includes(k)) delete out[k];
  for (const k of Object.keys(patch)) {
    if (!k.startsWith('$setElementOrder/')) continue;
    const field = k.slice('$setElementOrder/'.length);
    const order = patch[k];
    const list = out[field];
    const key = mergeKeyFor(field, path);
    if (Array.isArray(list) && Array.isArray(order)) out[field] = reorder(list, order, key);
  }
  return out;
}

function reorder(list: Json[], order: Json[], key: string | null | undefined): Json[] {
  const id = (x: Json): string => (key && isObject(x) ? JSON.stringify(x[key]) : JSON.stringify(x));
  const rank = new Map(order.map((o, i) => [id(o), i]));
  const ordered = list.filter((x) => rank.has(id(x))).sort((a, b) => (rank.get(id(a)) ?? 0) - (rank.get(id(b)) ?? 0));
  return [...ordered, ...list.filter((x) => !rank.has(id(x)))];
}

function mergeList(target: Json | undefined, patch: Json[], key: string | null, path: string[]): Json[] {
  if (patch.some((p) => isObject(p) && p.$patch === 'replace' && Object.keys(p).length === 1))
    return stripDirectives(patch.filter((p) => !(isObject(p) && p.$patch === 'replace'))) as Json[];
  const out: Json[] = Array.isArray(target) ? [...target] : [];
  if (key === null) {
    for (const p of patch) if (!out.some((x) => JSON.stringify(x) === JSON.stringify(p))) out.push(clone(p));
    return out;
  }
  for (const p of patch) {
    if (!isObject(p)) {
      out.push(p);
      continue;
    }
    const idx = out.findIndex((x) => isObject(x) && JSON.stringify(x[key]) === JSON.stringify(p[key]));
    if (p.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = strategicMergePatch(out[idx], p, path);
    else out.push(strategicMergePatch(undefined, p, path));
  }
  return out;
}

function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith('$')) out[k] = stripDirectives(x);
  return out;
}

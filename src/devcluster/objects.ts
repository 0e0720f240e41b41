import { randomInt, randomUUID } from 'node:crypto';
import {
  alreadyExists,
  ApiError,
  badRequest,
  conflict,
  expired,
  forbidden,
  invalid,
  notFound,
  staleObject,
  unsupportedMediaType,
  type FieldError,
  type Subject,
} from './errors.ts';
import {
  defaultPod,
  eventFromCore,
  eventToCore,
  immutableDataErrors,
  normaliseSecret,
  qosClass,
  validateConfigKeys,
  validatePod,
  validatePodStatusUpdate,
  validatePodUpdate,
} from './builtin-rules.ts';
import { applyOwnership, changedFields, fieldSet, recordUpdate } from './managed-fields.ts';
import { clone, isObject, jsonPatch, mergePatch, strategicMergePatch, type Json, type JsonObject } from './patch.ts';
import { defaultCrd, validateCrd, type Registry } from './registry.ts';
import { apiVersionOf, hasStatus, type ResourceType } from './resources.ts';
import { applyDefaults, prune, validate } from './schema.ts';
import { labelSelectorObjectMatches, parseFieldSelector, parseLabelSelector } from './selectors.ts';
import { objectKey, type KubeObject, type Store } from './store.ts';
import {
  validateAnnotations,
  validateFinalizers,
  validateLabels,
  validateName,
  validateOwnerReferences,
} from './validation.ts';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export interface WriteOptions {
  dryRun?: boolean;
  fieldValidation?: FieldValidation;
  fieldManager?: string;
  force?: boolean;
  /** Set by server-side apply, which records its own managedFields entry. */
  applying?: boolean;
  /** managedFields a server-side apply creates the object with. */
  managedFields?: JsonObject[];
}

export interface WriteResult {
  object: KubeObject;
  warnings: string[];
  created: boolean;
}

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
}

const patchTypes = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/apply-patch+yaml',
];

export function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

const nameAlphabet = 'bcdfghjklmnpqrstvwxz2456789';
function randomSuffix(): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += nameAlphabet[randomInt(nameAlphabet.length)];
  return s;
}

export function subjectOf(t: ResourceType, name: string): Subject {
  return { group: t.group, resource: t.resource, kind: t.kind, name };
}

const serverOwnedMetadata = [
  'uid',
  'resourceVersion',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'generation',
  'selfLink',
];

/** Built-ins whose status is kept on create (the kubelet registers a Node with its status). */
const statusOnCreate = new Set(['/nodes']);

/**
 * The semantics of kube-apiserver's generic registry over the Store: defaulting, validation, admission checks,
 * preconditions, generation, /status, finalizers and graceful deletion. HTTP lives elsewhere; controllers call this too.
 */
export class Objects {
  readonly store: Store;
  readonly registry: Registry;

  constructor(options: { store: Store; registry: Registry }) {
    this.store = options.store;
    this.registry = options.registry;
  }

  /** The object as a client of `t`'s version sees it. */
  present(t: ResourceType, o: KubeObject): KubeObject {
    // Stored objects are never mutated, so one already in this version's shape is shared (and its JSON cached).
    if (o.apiVersion === apiVersionOf(t) && o.kind === t.kind && t.group !== 'events.k8s.io') return o;
    const shown = t.storageKey === 'events' && t.group === 'events.k8s.io' ? eventFromCore(o) : { ...o };
    shown.apiVersion = apiVersionOf(t);
    shown.kind = t.kind;
    return shown as KubeObject;
  }

  private toStorage(t: ResourceType, o: KubeObject): KubeObject {
    const stored = t.storageKey === 'events' && t.group === 'events.k8s.io' ? eventToCore(o) : o;
    if (t.storageKey === 'events') stored.apiVersion = 'v1';
    else if (t.crd) stored.apiVersion = `${t.group}/${t.crd.storageVersion}`;
    return stored;
  }

  get(t: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const o = this.store.get(t.storageKey, t.namespaced ? namespace : undefined, name);
    if (!o) throw notFound(subjectOf(t, name));
    return o;
  }

  list(
    t: ResourceType,
    namespace: string | undefined,
    options: ListOptions,
  ): { items: KubeObject[]; metadata: JsonObject } {
    const labels = parseLabelSelector(options.labelSelector);
    const fields = parseFieldSelector(options.fieldSelector, t.fields, t.resource);
    let after: string | undefined;
    let listRv = this.store.resourceVersion;
    if (options.continue) {
      let token: { rv?: string; start?: string };
      try {
        token = JSON.parse(Buffer.from(options.continue, 'base64url').toString('utf8')) as {
          rv?: string;
          start?: string;
        };
      } catch {
        throw badRequest('continue key is not valid: illegal base64 data');
      }
      if (typeof token.start !== 'string' || typeof token.rv !== 'string')
        throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
      if (Number(token.rv) < this.store.oldestResumable)
        throw expired(
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
        );
      after = token.start;
      listRv = token.rv;
    }
    const all = this.store.list(t.storageKey, t.namespaced ? namespace : undefined);
    const items: KubeObject[] = [];
    let next: string | undefined;
    let remaining = 0;
    for (const o of all) {
      const key = objectKey(o.metadata.namespace, o.metadata.name);
      if (after !== undefined && key <= after) continue;
      const shown = this.present(t, o);
      if (!labels(o.metadata.labels) || !fields(shown)) continue;
      if (options.limit && items.length >= options.limit) {
        remaining++;
        continue;
      }
      items.push(shown);
      if (options.limit && items.length === options.limit) next = key;
    }
    const metadata: JsonObject = { resourceVersion: listRv };
    if (next !== undefined && remaining > 0) {
      metadata.continue = Buffer.from(JSON.stringify({ rv: listRv, start: next })).toString('base64url');
      if (!options.labelSelector && !options.fieldSelector) metadata.remainingItemCount = remaining;
    }
    return { items, metadata };
  }

  private namespaceCheck(t: ResourceType, namespace: string | undefined, name: string): void {
    if (!t.namespaced) return;
    if (!namespace) throw badRequest('the namespace of the object must be set for a namespaced resource');
    const ns = this.store.get('namespaces', undefined, namespace);
    if (!ns)
      throw new ApiError(404, 'NotFound', `namespaces "${namespace}" not found`, {
        name: namespace,
        kind: 'namespaces',
      });
    if (ns.metadata.deletionTimestamp)
      throw forbidden(
        subjectOf(t, name),
        `unable to create new content in namespace ${namespace} because it is being terminated`,
      );
  }

  private checkMetadata(t: ResourceType, o: KubeObject): FieldError[] {
    const m = o.metadata;
    return [
      ...validateName(m.name, t.nameRule),
      ...validateLabels(m.labels),
      ...validateAnnotations(m.annotations),
      ...validateFinalizers(m.finalizers),
      ...validateOwnerReferences(m.ownerReferences),
    ];
  }

  /** Prunes, defaults and validates a custom resource against its CRD's schema. */
  private customResource(
    t: ResourceType,
    o: KubeObject,
    old: KubeObject | undefined,
    options: WriteOptions,
  ): { errors: FieldError[]; warnings: string[] } {
    const schema = t.crd?.schema;
    const dropped = prune(o as Json, schema);
    const warnings: string[] = [];
    if (dropped.length) {
      if (options.fieldValidation === 'Strict')
        throw badRequest(
          `${t.kind} in version "${t.version}" cannot be handled as a ${t.kind}: strict decoding error: ${dropped.map((d) => `unknown field "${d}"`).join(', ')}`,
        );
      if (options.fieldValidation !== 'Ignore') warnings.push(...dropped.map((d) => `unknown field "${d}"`));
    }
    applyDefaults(o as Json, schema);
    // Root-level CEL rules may read metadata.name and metadata.generateName (as with kube-apiserver); structural
    // validation skips metadata at the root.
    const celMetadata = (x: object): JsonObject => {
      const m = ((x as JsonObject).metadata ?? {}) as JsonObject;
      return Object.fromEntries(Object.entries(m).filter(([k]) => k === 'name' || k === 'generateName')) as JsonObject;
    };
    const body = { ...o, metadata: celMetadata(o) } as JsonObject;
    const oldBody = old ? ({ ...old, metadata: celMetadata(old) } as JsonObject) : undefined;
    return { errors: validate(body, schema, '', oldBody), warnings };
  }

  /** Kind-specific defaulting and validation, shared by create and update. */
  private admit(
    t: ResourceType,
    o: KubeObject,
    old: KubeObject | undefined,
    options: WriteOptions,
    subresource?: string,
  ): { errors: FieldError[]; warnings: string[] } {
    const errors = this.checkMetadata(t, o);
    const warnings: string[] = [];
    const key = `${t.group}/${t.resource}`;
    if (t.crd) {
      const r = this.customResource(t, o, old, options);
      errors.push(...r.errors);
      warnings.push(...r.warnings);
    } else if (key === '/pods') {
      if (!old) defaultPod(o);
      else if (subresource === 'status') errors.push(...validatePodStatusUpdate(o, old));
      else errors.push(...validatePodUpdate(o, old));
      errors.push(...validatePod(o));
      if (!old) {
        const sa = ((o.spec as JsonObject)?.serviceAccountName ?? 'default') as string;
        if (!this.store.get('serviceaccounts', o.metadata.namespace, sa))
          throw forbidden(
            subjectOf(t, o.metadata.name),
            `error looking up service account ${o.metadata.namespace}/${sa}: serviceaccount "${sa}" not found`,
          );
      }
    } else if (key === '/secrets') {
      normaliseSecret(o);
      errors.push(...validateConfigKeys(o, ['data']));
      if (old) errors.push(...immutableDataErrors(o, old));
    } else if (key === '/configmaps') {
      errors.push(...validateConfigKeys(o, ['data', 'binaryData']));
      if (old) errors.push(...immutableDataErrors(o, old));
    } else if (key === 'apiextensions.k8s.io/customresourcedefinitions') {
      defaultCrd(o);
      errors.push(...validateCrd(o));
      if (old) {
        const [a, b] = [old.spec as JsonObject, o.spec as JsonObject];
        if (a?.group !== b?.group)
          errors.push({
            type: 'FieldValueInvalid',
            field: 'spec.group',
            value: b?.group ?? '',
            detail: 'field is immutable',
          });
        if (JSON.stringify((a?.names as JsonObject)?.plural) !== JSON.stringify((b?.names as JsonObject)?.plural))
          errors.push({
            type: 'FieldValueInvalid',
            field: 'spec.names.plural',
            value: ((b?.names as JsonObject)?.plural ?? '') as Json,
            detail: 'field is immutable',
          });
      }
    } else if (['apps/deployments', 'apps/replicasets', 'apps/statefulsets', 'apps/daemonsets'].includes(key)) {
      errors.push(...validateWorkloadSelector(o, old));
    } else if (key === '/namespaces') {
      const spec = (isObject(o.spec) ? o.spec : (o.spec = {})) as JsonObject;
      if (!old) spec.finalizers ??= ['kubernetes'];
    }
    return { errors, warnings };
  }

  create(t: ResourceType, namespace: string | undefined, body: unknown, options: WriteOptions = {}): WriteResult {
    const o = this.decode(t, body);
    const m = o.metadata;
    if (t.namespaced) {
      if (m.namespace && namespace && m.namespace !== namespace)
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      m.namespace = namespace ?? m.namespace;
    } else delete m.namespace;
    if (!m.name) {
      if (typeof m.generateName === 'string' && m.generateName) m.name = `${m.generateName}${randomSuffix()}`;
      else
        throw invalid(subjectOf(t, ''), [
          { type: 'FieldValueRequired', field: 'metadata.name', detail: 'name or generateName is required' },
        ]);
    }
    if (typeof m.name !== 'string') throw badRequest('metadata.name must be a string');
    this.namespaceCheck(t, m.namespace, m.name);
    for (const k of serverOwnedMetadata) delete m[k];
    m.uid = randomUUID();
    m.creationTimestamp = now();
    if (t.crd || isObject(o.spec)) m.generation = 1;
    if (hasStatus(t) && !statusOnCreate.has(`${t.group}/${t.resource}`)) delete o.status;
    const { errors, warnings } = this.admit(t, o, undefined, options);
    if (errors.length) throw invalid(subjectOf(t, m.name), errors);
    m.managedFields = (
      options.applying
        ? (options.managedFields ?? [])
        : recordUpdate(
            [],
            options.fieldManager ?? 'unknown',
            apiVersionOf(t),
            undefined,
            changedFields(undefined, o as Json),
            m.creationTimestamp,
          )
    ) as Json;
    if (t.group === '' && t.resource === 'pods') o.status = { phase: 'Pending', qosClass: qosClass(o) };
    if (t.group === '' && t.resource === 'namespaces') o.status = { phase: 'Active' };
    if (this.store.get(t.storageKey, m.namespace, m.name)) throw alreadyExists(subjectOf(t, m.name));
    const stored = options.dryRun ? o : this.store.put(t.storageKey, this.toStorage(t, o));
    return { object: this.present(t, stored), warnings, created: true };
  }

  private decode(t: ResourceType, body: unknown): KubeObject {
    if (!isObject(body)) throw badRequest(`the body of the request must be a ${t.kind} object`);
    const o = clone(body) as KubeObject;
    if (o.apiVersion !== undefined && o.apiVersion !== apiVersionOf(t))
      throw badRequest(
        `the API version in the data (${String(o.apiVersion)}) does not match the expected API version (${apiVersionOf(t)})`,
      );
    if (o.kind !== undefined && o.kind !== t.kind)
      throw badRequest(`the kind in the data (${String(o.kind)}) does not match the expected kind (${t.kind})`);
    if (o.metadata === undefined) o.metadata = {} as KubeObject['metadata'];
    if (!isObject(o.metadata)) throw badRequest('metadata must be an object');
    o.apiVersion = apiVersionOf(t);
    o.kind = t.kind;
    return o;
  }

  /** PUT, or the write half of PATCH. `subresource` is 'status' for /status. */
  update(
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    body: unknown,
    options: WriteOptions = {},
    subresource?: string,
  ): WriteResult {
    const incoming = this.decode(t, body);
    const ns = t.namespaced ? namespace : undefined;
    if (incoming.metadata.name !== undefined && incoming.metadata.name !== name)
      throw badRequest(
        `the name of the object (${String(incoming.metadata.name)}) does not match the name on the URL (${name})`,
      );
    if (t.namespaced && incoming.metadata.namespace && incoming.metadata.namespace !== namespace)
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    const stored = this.store.get(t.storageKey, ns, name);
    if (!stored) {
      if (
        ['/events', 'events.k8s.io/events', 'coordination.k8s.io/leases', '/endpoints'].includes(
          `${t.group}/${t.resource}`,
        ) &&
        !subresource
      )
        return this.create(
          t,
          namespace,
          { ...incoming, metadata: { ...incoming.metadata, name, resourceVersion: undefined } },
          options,
        );
      throw notFound(subjectOf(t, name));
    }
    const old = this.present(t, stored);
    const rv = incoming.metadata.resourceVersion;
    if (rv === undefined || rv === '') {
      if (t.crd && !subresource)
        throw invalid(subjectOf(t, name), [
          {
            type: 'FieldValueInvalid',
            field: 'metadata.resourceVersion',
            value: '0x0',
            detail: 'must be specified for an update',
          },
        ]);
    } else if (rv !== old.metadata.resourceVersion) throw conflict(subjectOf(t, name), staleObject);
    if (incoming.metadata.uid !== undefined && incoming.metadata.uid !== old.metadata.uid)
      throw conflict(
        subjectOf(t, name),
        `Precondition failed: UID in precondition: ${String(incoming.metadata.uid)}, UID in object meta: ${old.metadata.uid}`,
      );

    let next: KubeObject;
    if (subresource === 'status') {
      next = { ...clone(old), status: clone(incoming.status ?? null) } as KubeObject;
      if (incoming.status === undefined) delete next.status;
    } else {
      next = incoming;
      for (const k of [
        'uid',
        'creationTimestamp',
        'deletionTimestamp',
        'deletionGracePeriodSeconds',
        'generation',
        'namespace',
        'name',
      ] as const) {
        if (old.metadata[k] === undefined) delete next.metadata[k];
        else (next.metadata as JsonObject)[k] = old.metadata[k] as Json;
      }
      if (next.metadata.managedFields === undefined && old.metadata.managedFields !== undefined)
        next.metadata.managedFields = old.metadata.managedFields;
      if (hasStatus(t)) {
        if (old.status === undefined) delete next.status;
        else next.status = clone(old.status);
      }
    }
    if (old.metadata.deletionTimestamp) {
      const before = new Set(old.metadata.finalizers ?? []);
      const added = (next.metadata.finalizers ?? []).filter((f) => !before.has(f));
      if (added.length)
        throw invalid(subjectOf(t, name), [
          {
            type: 'FieldValueForbidden',
            field: 'metadata.finalizers',
            detail: `no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`,
          },
        ]);
    }
    const { errors, warnings } = this.admit(t, next, old, options, subresource);
    if (errors.length) throw invalid(subjectOf(t, name), errors);
    if (old.metadata.generation !== undefined && subresource !== 'status' && specChanged(t, old, next))
      next.metadata.generation = old.metadata.generation + 1;
    next.metadata.resourceVersion = old.metadata.resourceVersion;
    if (!options.applying)
      next.metadata.managedFields = recordUpdate(
        (next.metadata.managedFields ?? []) as JsonObject[],
        options.fieldManager ?? 'unknown',
        apiVersionOf(t),
        subresource,
        changedFields(old as Json, next as Json),
        now(),
      ) as Json;
    if (JSON.stringify(next) === JSON.stringify(old)) return { object: old, warnings, created: false };
    if (options.dryRun) return { object: next, warnings, created: false };
    if (next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0) {
      const last = this.store.remove(t.storageKey, this.toStorage(t, next));
      return { object: this.present(t, last), warnings, created: false };
    }
    return { object: this.present(t, this.store.put(t.storageKey, this.toStorage(t, next))), warnings, created: false };
  }

  patch(
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    contentType: string,
    patch: unknown,
    options: WriteOptions = {},
    subresource?: string,
  ): WriteResult {
    const ns = t.namespaced ? namespace : undefined;
    const stored = this.store.get(t.storageKey, ns, name);
    const type = contentType.split(';')[0]?.trim() ?? '';
    if (!patchTypes.includes(type) || (type === 'application/strategic-merge-patch+json' && t.crd))
      throw unsupportedMediaType(contentType, t.crd ? patchTypes.filter((p) => !p.includes('strategic')) : patchTypes);
    if (type === 'application/apply-patch+yaml')
      return this.apply(t, namespace, name, patch, stored, options, subresource);
    if (!stored) throw notFound(subjectOf(t, name));
    const current = this.present(t, stored) as Json;
    let result: Json;
    if (type === 'application/json-patch+json') result = jsonPatch(current, patch);
    else {
      if (!isObject(patch)) throw badRequest('a merge patch must be a JSON object');
      const meta = patch.metadata;
      if (
        isObject(meta) &&
        meta.resourceVersion !== undefined &&
        meta.resourceVersion !== null &&
        meta.resourceVersion !== stored.metadata.resourceVersion
      )
        throw conflict(subjectOf(t, name), staleObject);
      result =
        type === 'application/merge-patch+json'
          ? mergePatch(current, patch as Json)
          : strategicMergePatch(current, patch as Json);
    }
    if (!isObject(result)) throw new ApiError(422, 'Invalid', 'the patch produced something that is not an object');
    if (!isObject(result.metadata)) result.metadata = {};
    const meta = result.metadata as JsonObject;
    if (meta.resourceVersion === undefined || meta.resourceVersion === null)
      meta.resourceVersion = stored.metadata.resourceVersion;
    return this.update(t, namespace, name, result, options, subresource);
  }

  /** Server-side apply, simplified: the applied configuration is merged into the live object and its manager recorded. */
  private apply(
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    stored: KubeObject | undefined,
    options: WriteOptions,
    subresource?: string,
  ): WriteResult {
    if (!options.fieldManager)
      throw invalid({ group: 'meta.k8s.io', resource: 'patchoptions', kind: 'PatchOptions', name: '' }, [
        { type: 'FieldValueRequired', field: 'fieldManager', detail: 'is required for apply patch' },
      ]);
    if (!isObject(patch)) throw badRequest('an apply patch must be an object');
    const applied = patch as KubeObject;
    if (applied.apiVersion !== apiVersionOf(t) || applied.kind !== t.kind)
      throw badRequest(`the apply configuration must set apiVersion ${apiVersionOf(t)} and kind ${t.kind}`);
    if (isObject(applied.metadata) && applied.metadata.name !== undefined && applied.metadata.name !== name)
      throw badRequest(
        `the name of the object (${String(applied.metadata.name)}) does not match the name on the URL (${name})`,
      );
    const entry = {
      manager: options.fieldManager,
      operation: 'Apply',
      apiVersion: apiVersionOf(t),
      time: now(),
      fieldsType: 'FieldsV1',
      fieldsV1: fieldSet(applied as Json),
    } as JsonObject;
    if (subresource === 'status') entry.subresource = 'status';
    if (!stored) {
      if (subresource) throw notFound(subjectOf(t, name));
      const body = clone(applied);
      body.metadata = { ...(body.metadata ?? {}), name } as KubeObject['metadata'];
      return this.create(t, namespace, body, { ...options, applying: true, managedFields: [entry] });
    }
    const current = this.present(t, stored);
    const previous = (current.metadata.managedFields ?? []) as JsonObject[];
    const mine = previous.find(
      (f) =>
        f.manager === options.fieldManager && f.operation === 'Apply' && (f.subresource ?? '') === (subresource ?? ''),
    );
    let base = clone(current) as Json;
    if (mine && isObject(mine.fieldsV1))
      base = removeUnowned(base, mine.fieldsV1 as JsonObject, entry.fieldsV1 as JsonObject);
    const merged = (
      t.crd ? mergePatch(base, applied as Json) : strategicMergePatch(base, applied as Json)
    ) as KubeObject;
    const others = applyOwnership(
      previous.filter((f) => f !== mine),
      options.fieldManager,
      subresource,
      applied as Json,
      current as Json,
      options.force === true,
    );
    merged.metadata.resourceVersion = stored.metadata.resourceVersion;
    merged.metadata.managedFields = [...others, entry] as Json;
    return this.update(t, namespace, name, merged, { ...options, applying: true }, subresource);
  }

  /**
   * DELETE: honours preconditions, finalizers, propagationPolicy and (for pods bound to a node) the grace period the
   * kubelet must observe. Returns the object if it still exists (terminating), or undefined once it is gone.
   */
  delete(
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    options: DeleteOptions = {},
  ): { object: KubeObject; gone: boolean } {
    const ns = t.namespaced ? namespace : undefined;
    const stored = this.store.get(t.storageKey, ns, name);
    if (!stored) throw notFound(subjectOf(t, name));
    const pre = options.preconditions ?? {};
    if (pre.uid && pre.uid !== stored.metadata.uid)
      throw conflict(
        subjectOf(t, name),
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${stored.metadata.uid}`,
      );
    if (pre.resourceVersion && pre.resourceVersion !== stored.metadata.resourceVersion)
      throw conflict(
        subjectOf(t, name),
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${stored.metadata.resourceVersion}`,
      );
    const next = clone(stored);
    const finalizers = new Set(next.metadata.finalizers ?? []);
    const key = `${t.group}/${t.resource}`;
    const policy = options.propagationPolicy ?? 'Background';
    if (policy === 'Foreground') finalizers.add('foregroundDeletion');
    if (policy === 'Orphan') finalizers.add('orphan');
    if (key === '/namespaces') {
      const spec = (next.spec ?? {}) as JsonObject;
      if ((spec.finalizers as Json[] | undefined)?.length) {
        next.metadata.deletionTimestamp ??= now();
        next.metadata.deletionGracePeriodSeconds ??= 0;
        next.status = { ...((next.status as JsonObject) ?? {}), phase: 'Terminating' };
        next.metadata.finalizers = finalizers.size ? [...finalizers] : undefined;
        if (!next.metadata.finalizers) delete next.metadata.finalizers;
        return { object: this.present(t, options.dryRun ? next : this.store.put(t.storageKey, next)), gone: false };
      }
    }
    if (key === 'apiextensions.k8s.io/customresourcedefinitions' && !stored.metadata.deletionTimestamp)
      finalizers.add('customresourcecleanup.apiextensions.k8s.io');
    let grace = 0;
    if (key === '/pods') {
      const phase = (stored.status as JsonObject | undefined)?.phase;
      const spec = (stored.spec ?? {}) as JsonObject;
      const bound = typeof spec.nodeName === 'string' && spec.nodeName !== '';
      grace =
        bound && phase !== 'Succeeded' && phase !== 'Failed'
          ? (options.gracePeriodSeconds ?? Number(spec.terminationGracePeriodSeconds ?? 30))
          : 0;
      if (grace < 0) grace = 1;
      if (stored.metadata.deletionTimestamp) {
        // A second delete may only shorten the grace period.
        const remaining = Math.max(0, (Date.parse(stored.metadata.deletionTimestamp) - Date.now()) / 1000);
        if (grace > 0 && grace >= remaining) return { object: this.present(t, stored), gone: false };
      }
    }
    if (finalizers.size > 0 || grace > 0) {
      if (!next.metadata.deletionTimestamp || grace > 0) {
        next.metadata.deletionTimestamp =
          grace > 0 ? new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d+Z$/, 'Z') : now();
        next.metadata.deletionGracePeriodSeconds = grace;
      }
      if (finalizers.size) next.metadata.finalizers = [...finalizers];
      if (next.metadata.generation !== undefined) next.metadata.generation += 1;
      if (JSON.stringify(next) === JSON.stringify(stored)) return { object: this.present(t, stored), gone: false };
      return { object: this.present(t, options.dryRun ? next : this.store.put(t.storageKey, next)), gone: false };
    }
    const last = options.dryRun ? stored : this.store.remove(t.storageKey, stored);
    return { object: this.present(t, last), gone: true };
  }
}

/** apps/v1 workloads: a required, immutable selector that must match the pod template's labels. */
function validateWorkloadSelector(o: KubeObject, old: KubeObject | undefined): FieldError[] {
  const spec = (isObject(o.spec) ? o.spec : {}) as JsonObject;
  const selector = spec.selector as Parameters<typeof labelSelectorObjectMatches>[0] | undefined;
  if (
    !isObject(selector) ||
    (!Object.keys(selector.matchLabels ?? {}).length && !(selector.matchExpressions ?? []).length)
  )
    return [{ type: 'FieldValueRequired', field: 'spec.selector', detail: '' }];
  const labels = ((spec.template as JsonObject | undefined)?.metadata as JsonObject | undefined)?.labels as
    Record<string, string> | undefined;
  const errors: FieldError[] = [];
  if (!labelSelectorObjectMatches(selector, labels))
    errors.push({
      type: 'FieldValueInvalid',
      field: 'spec.template.metadata.labels',
      value: labels ?? {},
      detail: '`selector` does not match template `labels`',
    });
  if (old && JSON.stringify((old.spec as JsonObject | undefined)?.selector) !== JSON.stringify(selector))
    errors.push({
      type: 'FieldValueInvalid',
      field: 'spec.selector',
      value: selector as Json,
      detail: 'field is immutable',
    });
  return errors;
}

/** generation counts changes of the spec: everything but metadata, and status where /status is separate. */
function specChanged(t: ResourceType, old: KubeObject, next: KubeObject): boolean {
  const strip = (o: KubeObject): string => {
    const c = { ...o } as JsonObject;
    delete c.metadata;
    if (hasStatus(t)) delete c.status;
    return JSON.stringify(c);
  };
  return strip(old) !== strip(next);
}

/** Removes from `obj` the fields the manager set before (`before`) but no longer sets (`after`). */
function removeUnowned(obj: Json, before: JsonObject, after: JsonObject): Json {
  if (!isObject(obj) && !Array.isArray(obj)) return obj;
  for (const [k, sub] of Object.entries(before)) {
    if (k === '.') continue;
    const stillOwned = after[k];
    if (k.startsWith('f:')) {
      const field = k.slice(2);
      if (!isObject(obj)) continue;
      if (stillOwned === undefined) delete obj[field];
      else if (isObject(sub) && isObject(stillOwned) && obj[field] !== undefined)
        obj[field] = removeUnowned(obj[field] as Json, sub, stillOwned);
    } else if (k.startsWith('k:') && Array.isArray(obj)) {
      const key = JSON.parse(k.slice(2)) as JsonObject;
      const [kk, kv] = Object.entries(key)[0] ?? ['', ''];
      const idx = obj.findIndex((i) => isObject(i) && JSON.stringify(i[kk]) === JSON.stringify(kv));
      if (idx < 0) continue;
      if (stillOwned === undefined) obj.splice(idx, 1);
      else if (isObject(sub) && isObject(stillOwned)) obj[idx] = removeUnowned(obj[idx] as Json, sub, stillOwned);
    }
  }
  return obj;
}

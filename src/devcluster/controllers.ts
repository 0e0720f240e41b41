import type { Logger } from '../log.ts';
import { ApiError } from './errors.ts';
import { now, type Objects } from './objects.ts';
import { isObject, type JsonObject } from './patch.ts';
import { isEstablished, typesOfCrd } from './registry.ts';
import { aggregatedRules } from './reviews.ts';
import type { ResourceType } from './resources.ts';
import type { KubeObject, StoreEvent } from './store.ts';

interface Ref {
  storageKey: string;
  namespace: string | undefined;
  name: string;
}

const crdKey = 'customresourcedefinitions.apiextensions.k8s.io';
const clusterRolesKey = 'clusterroles.rbac.authorization.k8s.io';

/**
 * The controllers kube-controller-manager and kube-apiserver run that clients rely on: the garbage collector
 * (ownerReferences, foreground and orphan deletion), the namespace lifecycle (content deletion, default
 * ServiceAccount) and CRD establishment and cleanup. They react to store events after the triggering request returns.
 */
export class Controllers {
  private readonly objects: Objects;
  private readonly log: Logger;
  private readonly byUid = new Map<string, Ref>();
  private readonly dependents = new Map<string, Set<string>>();
  private readonly pendingNamespaces = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly unsubscribe: () => void;
  private stopped = false;

  constructor(options: { objects: Objects; logger: Logger }) {
    this.objects = options.objects;
    this.log = options.logger;
    const store = this.objects.store;
    for (const key of store.storageKeys()) for (const o of store.list(key)) this.index(key, o);
    this.refreshCrds();
    this.unsubscribe = store.subscribe((e) => this.observe(e));
    for (const ns of store.list('namespaces'))
      if (ns.metadata.deletionTimestamp) this.scheduleNamespace(ns.metadata.name, 0);
    for (const crd of store.list(crdKey)) this.reconcileCrd(crd);
    for (const key of store.storageKeys())
      for (const o of store.list(key)) if (o.metadata.deletionTimestamp) this.reconcileOwner(key, o);
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe();
    for (const t of this.timers) clearTimeout(t);
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) this.guard(fn);
    }, ms);
    this.timers.add(t);
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (err instanceof ApiError && (err.code === 404 || err.code === 409)) return;
      this.log.warn('devcluster controller failed', { error: String(err) });
    }
  }

  private index(storageKey: string, o: KubeObject): void {
    const ref = { storageKey, namespace: o.metadata.namespace, name: o.metadata.name };
    this.byUid.set(o.metadata.uid, ref);
    for (const owner of o.metadata.ownerReferences ?? []) {
      let set = this.dependents.get(owner.uid);
      if (!set) {
        set = new Set();
        this.dependents.set(owner.uid, set);
      }
      set.add(o.metadata.uid);
    }
  }

  private unindex(o: KubeObject): void {
    this.byUid.delete(o.metadata.uid);
    for (const owner of o.metadata.ownerReferences ?? []) this.dependents.get(owner.uid)?.delete(o.metadata.uid);
  }

  private observe(e: StoreEvent): void {
    if (e.previous) this.unindex(e.previous);
    if (e.type === 'DELETED') {
      this.unindex(e.object);
      queueMicrotask(() => this.afterDeletion(e.object));
    } else this.index(e.storageKey, e.object);
    if (e.storageKey === crdKey) {
      this.refreshCrds();
      if (e.type !== 'DELETED') queueMicrotask(() => this.guard(() => this.reconcileCrd(e.object)));
    }
    if (e.storageKey === 'namespaces') {
      if (e.type === 'ADDED')
        queueMicrotask(() => this.guard(() => this.ensureDefaultServiceAccount(e.object.metadata.name)));
      if (e.type !== 'DELETED' && e.object.metadata.deletionTimestamp)
        this.scheduleNamespace(e.object.metadata.name, 0);
    }
    if (e.storageKey === clusterRolesKey) queueMicrotask(() => this.guard(() => this.aggregateClusterRoles()));
    if (e.type === 'ADDED' && e.object.metadata.ownerReferences?.length) {
      const uid = e.object.metadata.uid;
      this.later(1000, () => this.collectIfOrphaned(uid));
    }
    if (e.type !== 'DELETED' && e.object.metadata.deletionTimestamp) {
      const key = e.storageKey;
      const o = e.object;
      queueMicrotask(() => this.guard(() => this.reconcileOwner(key, o)));
    }
  }

  private typeOf(storageKey: string): ResourceType | undefined {
    return this.objects.registry.byStorageKey(storageKey)[0];
  }

  private current(ref: Ref): KubeObject | undefined {
    return this.objects.store.get(ref.storageKey, ref.namespace, ref.name);
  }

  private afterDeletion(gone: KubeObject): void {
    for (const uid of [...(this.dependents.get(gone.metadata.uid) ?? [])])
      this.guard(() => this.collectIfOrphaned(uid));
    for (const owner of gone.metadata.ownerReferences ?? []) {
      const ref = this.byUid.get(owner.uid);
      const o = ref && this.current(ref);
      if (ref && o?.metadata.deletionTimestamp) this.guard(() => this.reconcileOwner(ref.storageKey, o));
    }
  }

  /** Deletes a dependent whose owners are all gone; drops references to gone owners if some remain. */
  private collectIfOrphaned(uid: string): void {
    const ref = this.byUid.get(uid);
    const o = ref && this.current(ref);
    const t = ref && this.typeOf(ref.storageKey);
    if (!ref || !o || !t || o.metadata.uid !== uid) return;
    const owners = o.metadata.ownerReferences ?? [];
    const alive = owners.filter((r) => {
      const oref = this.byUid.get(r.uid);
      return oref !== undefined && this.current(oref)?.metadata.uid === r.uid;
    });
    if (alive.length === owners.length) return;
    if (alive.length === 0) {
      if (!o.metadata.deletionTimestamp)
        this.objects.delete(t, o.metadata.namespace, o.metadata.name, {
          propagationPolicy: 'Background',
          preconditions: { uid },
        });
      return;
    }
    this.objects.store.put(ref.storageKey, { ...o, metadata: { ...o.metadata, ownerReferences: alive } });
  }

  /** Foreground and orphan deletion of an owner that is terminating. */
  private reconcileOwner(storageKey: string, owner: KubeObject): void {
    const finalizers = owner.metadata.finalizers ?? [];
    const deps = [...(this.dependents.get(owner.metadata.uid) ?? [])];
    let done: string | undefined;
    if (finalizers.includes('orphan')) {
      for (const uid of deps) {
        const ref = this.byUid.get(uid);
        const d = ref && this.current(ref);
        if (!ref || !d) continue;
        const refs = (d.metadata.ownerReferences ?? []).filter((r) => r.uid !== owner.metadata.uid);
        const metadata = { ...d.metadata, ownerReferences: refs };
        if (!refs.length) delete (metadata as JsonObject).ownerReferences;
        this.objects.store.put(ref.storageKey, { ...d, metadata });
      }
      done = 'orphan';
    } else if (finalizers.includes('foregroundDeletion')) {
      let waiting = 0;
      for (const uid of deps) {
        const ref = this.byUid.get(uid);
        const d = ref && this.current(ref);
        const t = ref && this.typeOf(ref.storageKey);
        if (!ref || !d || !t) continue;
        waiting++;
        if (!d.metadata.deletionTimestamp)
          this.guard(() =>
            this.objects.delete(t, d.metadata.namespace, d.metadata.name, { propagationPolicy: 'Foreground' }),
          );
      }
      if (waiting === 0) done = 'foregroundDeletion';
    }
    if (done) this.removeFinalizer(storageKey, owner.metadata.uid, owner, done);
  }

  private removeFinalizer(storageKey: string, uid: string, o: KubeObject, finalizer: string): void {
    const latest = this.objects.store.get(storageKey, o.metadata.namespace, o.metadata.name);
    if (!latest || latest.metadata.uid !== uid) return;
    const finalizers = (latest.metadata.finalizers ?? []).filter((f) => f !== finalizer);
    if (finalizers.length === (latest.metadata.finalizers ?? []).length) return;
    const metadata = { ...latest.metadata, finalizers };
    if (!finalizers.length) {
      delete (metadata as JsonObject).finalizers;
      this.objects.store.remove(storageKey, { ...latest, metadata });
    } else this.objects.store.put(storageKey, { ...latest, metadata });
  }

  private ensureDefaultServiceAccount(namespace: string): void {
    const ns = this.objects.store.get('namespaces', undefined, namespace);
    if (!ns || ns.metadata.deletionTimestamp || this.objects.store.get('serviceaccounts', namespace, 'default')) return;
    const t = this.typeOf('serviceaccounts');
    if (t) this.objects.create(t, namespace, { metadata: { name: 'default' } });
  }

  private scheduleNamespace(name: string, delay: number): void {
    if (this.pendingNamespaces.has(name)) return;
    this.pendingNamespaces.add(name);
    this.later(delay, () => {
      this.pendingNamespaces.delete(name);
      this.guard(() => this.cleanNamespace(name));
    });
  }

  /** Deletes everything in a terminating namespace, then its `kubernetes` finalizer, then the namespace. */
  private cleanNamespace(name: string): void {
    const ns = this.objects.store.get('namespaces', undefined, name);
    if (!ns?.metadata.deletionTimestamp) return;
    let remaining = 0;
    for (const key of this.objects.registry.namespacedStorageKeys()) {
      const t = this.typeOf(key);
      if (!t) continue;
      for (const o of this.objects.store.list(key, name)) {
        remaining++;
        if (!o.metadata.deletionTimestamp)
          this.guard(() => this.objects.delete(t, name, o.metadata.name, { propagationPolicy: 'Background' }));
      }
    }
    if (remaining > 0) {
      this.scheduleNamespace(name, 200);
      return;
    }
    const latest = this.objects.store.get('namespaces', undefined, name);
    if (!latest) return;
    const spec = { ...((latest.spec as JsonObject) ?? {}), finalizers: [] };
    if ((latest.metadata.finalizers ?? []).length) this.objects.store.put('namespaces', { ...latest, spec });
    else this.objects.store.remove('namespaces', { ...latest, spec });
  }

  /** kube-controller-manager's ClusterRole aggregation: each change settles the chain view ⊂ edit ⊂ admin. */
  private aggregateClusterRoles(): void {
    const all = this.objects.store.list(clusterRolesKey);
    for (const role of all) {
      const rules = aggregatedRules(role, all);
      if (rules === undefined || JSON.stringify(rules) === JSON.stringify(role.rules ?? [])) continue;
      this.objects.store.put(clusterRolesKey, { ...role, rules });
    }
  }

  private refreshCrds(): void {
    this.objects.registry.setCrds(this.objects.store.list(crdKey));
  }

  /** Establishes a CRD (conditions, accepted names, stored versions), or cleans up its objects once it is deleted. */
  private reconcileCrd(crd: KubeObject): void {
    const latest = this.objects.store.get(crdKey, undefined, crd.metadata.name);
    if (!latest || latest.metadata.uid !== crd.metadata.uid) return;
    const spec = latest.spec as JsonObject;
    const names = spec.names as JsonObject;
    const storageKey = `${String(names.plural)}.${String(spec.group)}`;
    if (latest.metadata.deletionTimestamp) {
      const t = this.typeOf(storageKey) ?? typesOfCrd(latest)[0];
      const left = this.objects.store.list(storageKey);
      for (const o of left) {
        if (t) this.guard(() => this.objects.delete(t, o.metadata.namespace, o.metadata.name));
        else this.objects.store.remove(storageKey, o);
      }
      if (this.objects.store.list(storageKey).length === 0)
        this.removeFinalizer(crdKey, latest.metadata.uid, latest, 'customresourcecleanup.apiextensions.k8s.io');
      else this.later(200, () => this.reconcileCrd(latest));
      return;
    }
    const status = (isObject(latest.status) ? latest.status : {}) as JsonObject;
    const versions = (spec.versions ?? []) as JsonObject[];
    const storage = String(versions.find((v) => v.storage === true)?.name ?? '');
    const stored = new Set([...((status.storedVersions ?? []) as string[]), storage]);
    const existing = (status.conditions ?? []) as JsonObject[];
    const condition = (type: string, reason: string, message: string): JsonObject =>
      existing.find((c) => c.type === type && c.status === 'True') ?? {
        type,
        status: 'True',
        lastTransitionTime: now(),
        reason,
        message,
      };
    const desired: JsonObject = {
      conditions: [
        condition('NamesAccepted', 'NoConflicts', 'no conflicts found'),
        condition('Established', 'InitialNamesAccepted', 'the initial names have been accepted'),
      ],
      acceptedNames: names,
      storedVersions: [...stored].filter((v) => v !== ''),
    };
    if (JSON.stringify(desired) === JSON.stringify(status) && isEstablished(latest)) return;
    this.objects.store.put(crdKey, { ...latest, status: desired });
  }
}

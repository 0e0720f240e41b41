import { createHash } from 'node:crypto';
import type { Logger } from '../log.ts';
import { ApiError } from './errors.ts';
import { now, type Objects } from './objects.ts';
import { isObject, type JsonObject } from './patch.ts';
import type { ResourceType } from './resources.ts';
import type { KubeObject, StoreEvent } from './store.ts';

const deployments = 'deployments.apps';
const replicaSets = 'replicasets.apps';

function controllerOf(o: KubeObject): { kind: string; uid: string; name: string } | undefined {
  return o.metadata.ownerReferences?.find((r) => r.controller === true);
}

function isActive(pod: KubeObject): boolean {
  const phase = (pod.status as JsonObject | undefined)?.phase;
  return !pod.metadata.deletionTimestamp && phase !== 'Succeeded' && phase !== 'Failed';
}

function isReady(pod: KubeObject): boolean {
  return (((pod.status as JsonObject | undefined)?.conditions ?? []) as JsonObject[]).some(
    (c) => c.type === 'Ready' && c.status === 'True',
  );
}

/** kube-controller-manager's pod-template-hash: a short, stable digest of the pod template. */
function templateHash(template: unknown): string {
  return createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10);
}

function controllerReference(kind: 'Deployment' | 'ReplicaSet', name: string, uid: string): JsonObject {
  return { apiVersion: 'apps/v1', kind, name, uid, controller: true, blockOwnerDeletion: true };
}

/**
 * The Deployment and ReplicaSet controllers, simplified: a Deployment owns one ReplicaSet per pod template (older ones
 * are scaled to zero at once, like the Recreate strategy), a ReplicaSet keeps `replicas` active pods, and both report
 * the status fields `kubectl rollout status` and `helm --wait` read. Pods are scheduled by the kubelet as usual.
 */
export class WorkloadControllers {
  private readonly objects: Objects;
  private readonly log: Logger;
  private readonly dirty = new Set<string>();
  private scheduled = false;
  private stopped = false;
  private readonly unsubscribe: () => void;

  constructor(options: { objects: Objects; logger: Logger }) {
    this.objects = options.objects;
    this.log = options.logger;
    this.unsubscribe = this.objects.store.subscribe((e) => this.observe(e));
    for (const d of this.objects.store.list(deployments)) this.enqueue(deployments, d);
    for (const rs of this.objects.store.list(replicaSets)) this.enqueue(replicaSets, rs);
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe();
  }

  private enqueue(storageKey: string, o: { metadata: { namespace?: string; name: string } }): void {
    this.dirty.add(JSON.stringify([storageKey, o.metadata.namespace ?? '', o.metadata.name]));
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.stopped) return;
      const keys = [...this.dirty];
      this.dirty.clear();
      for (const key of keys) {
        const [storageKey, namespace, name] = JSON.parse(key) as [string, string, string];
        try {
          if (storageKey === deployments) this.reconcileDeployment(namespace, name);
          else this.reconcileReplicaSet(namespace, name);
        } catch (err) {
          if (err instanceof ApiError && (err.code === 404 || err.code === 409)) continue;
          this.log.warn('devcluster workload controller failed', { key, error: String(err) });
        }
      }
    });
  }

  private observe(e: StoreEvent): void {
    if (e.storageKey === deployments || e.storageKey === replicaSets) this.enqueue(e.storageKey, e.object);
    const owner = controllerOf(e.object);
    if (!owner || !e.object.metadata.namespace) return;
    if (e.storageKey === 'pods' && owner.kind === 'ReplicaSet')
      this.enqueue(replicaSets, { metadata: { namespace: e.object.metadata.namespace, name: owner.name } });
    if (e.storageKey === replicaSets && owner.kind === 'Deployment')
      this.enqueue(deployments, { metadata: { namespace: e.object.metadata.namespace, name: owner.name } });
  }

  private type(group: string, resource: string): ResourceType {
    const t = this.objects.registry.find(group, 'v1', resource);
    if (!t) throw new Error(`built-in resource ${resource} missing`);
    return t;
  }

  private owned(storageKey: string, namespace: string, uid: string): KubeObject[] {
    return this.objects.store.list(storageKey, namespace).filter((o) => controllerOf(o)?.uid === uid);
  }

  private writeStatus(storageKey: string, o: KubeObject, status: JsonObject): void {
    const latest = this.objects.store.get(storageKey, o.metadata.namespace, o.metadata.name);
    if (!latest || latest.metadata.uid !== o.metadata.uid) return;
    if (JSON.stringify(latest.status ?? {}) === JSON.stringify(status)) return;
    this.objects.store.put(storageKey, { ...latest, status });
  }

  private reconcileReplicaSet(namespace: string, name: string): void {
    const rs = this.objects.store.get(replicaSets, namespace, name);
    if (!rs || rs.metadata.deletionTimestamp) return;
    const spec = (rs.spec ?? {}) as JsonObject;
    const desired = typeof spec.replicas === 'number' ? spec.replicas : 1;
    const template = (spec.template ?? {}) as JsonObject;
    const pods = this.owned('pods', namespace, rs.metadata.uid).filter(isActive);
    const podType = this.type('', 'pods');
    if (pods.length < desired) {
      const templateMeta = (template.metadata ?? {}) as JsonObject;
      for (let i = pods.length; i < desired; i++)
        this.objects.create(
          podType,
          namespace,
          {
            metadata: {
              generateName: `${name}-`,
              labels: templateMeta.labels ?? {},
              ...(templateMeta.annotations ? { annotations: templateMeta.annotations } : {}),
              ownerReferences: [controllerReference('ReplicaSet', name, rs.metadata.uid)],
            },
            spec: template.spec ?? {},
          },
          { fieldManager: 'replicaset-controller' },
        );
    } else if (pods.length > desired) {
      // Remove the least advanced first: unscheduled, then not ready, then the newest.
      const rank = (p: KubeObject): number => ((p.spec as JsonObject)?.nodeName ? 2 : 0) + (isReady(p) ? 1 : 0);
      const surplus = [...pods]
        .sort((a, b) => rank(a) - rank(b) || b.metadata.creationTimestamp.localeCompare(a.metadata.creationTimestamp))
        .slice(0, pods.length - desired);
      for (const p of surplus)
        this.objects.delete(podType, namespace, p.metadata.name, { preconditions: { uid: p.metadata.uid } });
    }
    // The listing above still holds unless this pass created or deleted pods.
    const active = pods.length === desired ? pods : this.owned('pods', namespace, rs.metadata.uid).filter(isActive);
    const ready = active.filter(isReady).length;
    this.writeStatus(replicaSets, rs, {
      replicas: active.length,
      fullyLabeledReplicas: active.length,
      readyReplicas: ready,
      availableReplicas: ready,
      observedGeneration: rs.metadata.generation ?? 1,
    });
  }

  private reconcileDeployment(namespace: string, name: string): void {
    const d = this.objects.store.get(deployments, namespace, name);
    if (!d || d.metadata.deletionTimestamp) return;
    const spec = (d.spec ?? {}) as JsonObject;
    const desired = typeof spec.replicas === 'number' ? spec.replicas : 1;
    const template = (spec.template ?? {}) as JsonObject;
    const hash = templateHash(template);
    const rsName = `${name}-${hash}`;
    const rsType = this.type('apps', 'replicasets');
    const owned = this.owned(replicaSets, namespace, d.metadata.uid);
    let current = owned.find((rs) => rs.metadata.labels?.['pod-template-hash'] === hash);
    if (!current) {
      const templateMeta = (template.metadata ?? {}) as JsonObject;
      const labels = { ...((templateMeta.labels ?? {}) as Record<string, string>), 'pod-template-hash': hash };
      const selector = (spec.selector ?? {}) as JsonObject;
      current = this.objects.create(
        rsType,
        namespace,
        {
          metadata: {
            name: rsName,
            labels,
            annotations: { 'deployment.kubernetes.io/revision': String(owned.length + 1) },
            ownerReferences: [controllerReference('Deployment', name, d.metadata.uid)],
          },
          spec: {
            replicas: desired,
            selector: {
              ...selector,
              matchLabels: { ...((selector.matchLabels ?? {}) as JsonObject), 'pod-template-hash': hash },
            },
            template: { ...template, metadata: { ...templateMeta, labels } },
          },
        },
        { fieldManager: 'deployment-controller' },
      ).object;
    } else if ((current.spec as JsonObject)?.replicas !== desired) {
      current = this.objects.store.put(replicaSets, {
        ...current,
        spec: { ...(current.spec as JsonObject), replicas: desired },
      });
    }
    for (const old of owned)
      if (old.metadata.uid !== current.metadata.uid && (old.spec as JsonObject)?.replicas !== 0)
        this.objects.store.put(replicaSets, { ...old, spec: { ...(old.spec as JsonObject), replicas: 0 } });
    const all = this.owned(replicaSets, namespace, d.metadata.uid);
    const sum = (key: string): number =>
      all.reduce((n, rs) => n + Number(((rs.status ?? {}) as JsonObject)[key] ?? 0), 0);
    const newStatus = (all.find((rs) => rs.metadata.uid === current.metadata.uid)?.status ?? {}) as JsonObject;
    const replicas = sum('replicas');
    const available = sum('availableReplicas');
    const updated = Number(newStatus.replicas ?? 0);
    const complete = updated === desired && replicas === desired && available === desired;
    const previous = ((isObject(d.status) ? d.status.conditions : []) ?? []) as JsonObject[];
    const condition = (type: string, status: string, reason: string, message: string): JsonObject => {
      const before = previous.find((c) => c.type === type);
      const changed = before?.status !== status;
      return {
        type,
        status,
        lastUpdateTime: before && !changed && before.reason === reason ? (before.lastUpdateTime ?? now()) : now(),
        lastTransitionTime: before && !changed ? (before.lastTransitionTime ?? now()) : now(),
        reason,
        message,
      };
    };
    this.writeStatus(deployments, d, {
      observedGeneration: d.metadata.generation ?? 1,
      replicas,
      updatedReplicas: updated,
      readyReplicas: sum('readyReplicas'),
      availableReplicas: available,
      ...(replicas > available ? { unavailableReplicas: replicas - available } : {}),
      conditions: [
        available >= desired
          ? condition('Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.')
          : condition(
              'Available',
              'False',
              'MinimumReplicasUnavailable',
              'Deployment does not have minimum availability.',
            ),
        complete
          ? condition(
              'Progressing',
              'True',
              'NewReplicaSetAvailable',
              `ReplicaSet "${rsName}" has successfully progressed.`,
            )
          : condition('Progressing', 'True', 'ReplicaSetUpdated', `ReplicaSet "${rsName}" is progressing.`),
      ],
    });
  }
}

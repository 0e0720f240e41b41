import { type PrinterColumn, type ResourceType } from './resources.ts';
import type { KubeObject } from './store.ts';
import { isObject, type Json, type JsonObject } from './patch.ts';

/** duration.HumanDuration from apimachinery: the AGE column's wording. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 192) return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  const years = Math.floor(hours / 24 / 365);
  if (hours < 24 * 365 * 8) return `${years}y${Math.floor(hours / 24) % 365}d`;
  return `${years}y`;
}

function age(timestamp: unknown): string {
  if (typeof timestamp !== 'string') return '<unknown>';
  const t = Date.parse(timestamp);
  return Number.isNaN(t) ? '<invalid>' : humanDuration(Date.now() - t);
}

/**
 * The simple JSONPath of additionalPrinterColumns: `.a.b`, `.a[0]`, `.a[*].b`, `.a['x.y']`, `.a[?(@.type=="Ready")].b`.
 * Returns every match.
 */
export function jsonPath(obj: Json, expr: string): Json[] {
  let path = expr.trim();
  if (path.startsWith('{') && path.endsWith('}')) path = path.slice(1, -1);
  if (path.startsWith('$')) path = path.slice(1);
  const tokens: (
    { key: string } | { index: number } | { all: true } | { filter: string; op: string; value: string }
  )[] = [];
  const re =
    /\.([A-Za-z0-9_$-]+)|\[(\d+)\]|\[\*\]|\['([^']*)'\]|\["([^"]*)"\]|\[\?\(@\.([A-Za-z0-9_.-]+)\s*(==|!=)\s*["']?([^"')]*)["']?\)\]/gy;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(path)) !== null) {
    consumed = re.lastIndex;
    if (m[1] !== undefined) tokens.push({ key: m[1] });
    else if (m[2] !== undefined) tokens.push({ index: Number(m[2]) });
    else if (m[3] !== undefined) tokens.push({ key: m[3] });
    else if (m[4] !== undefined) tokens.push({ key: m[4] });
    else if (m[5] !== undefined) tokens.push({ filter: m[5], op: m[6] ?? '==', value: m[7] ?? '' });
    else tokens.push({ all: true });
  }
  if (consumed !== path.length) return [];
  let current: Json[] = [obj];
  for (const t of tokens) {
    const next: Json[] = [];
    for (const c of current) {
      if ('key' in t) {
        if (isObject(c) && c[t.key] !== undefined) next.push(c[t.key] as Json);
      } else if ('index' in t) {
        if (Array.isArray(c) && c[t.index] !== undefined) next.push(c[t.index] as Json);
      } else if ('all' in t) {
        if (Array.isArray(c)) next.push(...c);
        else if (isObject(c)) next.push(...Object.values(c));
      } else if (Array.isArray(c)) {
        for (const item of c) {
          const v = jsonPath(item, `.${t.filter}`)[0];
          const s = v === undefined || v === null ? '' : String(v);
          if ((s === t.value) === (t.op === '==')) next.push(item);
        }
      }
    }
    current = next;
  }
  return current;
}

interface Column {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
  cell: (o: KubeObject) => Json;
}

const nameColumn: Column = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: 'Name must be unique within a namespace.',
  priority: 0,
  cell: (o) => o.metadata.name,
};

const ageColumn: Column = {
  name: 'Age',
  type: 'string',
  format: '',
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
  priority: 0,
  cell: (o) => age(o.metadata.creationTimestamp),
};

function col(name: string, cell: (o: KubeObject) => Json, priority = 0, type = 'string'): Column {
  return { name, type, format: '', description: name, priority, cell };
}

function get(o: Json, path: string): Json | undefined {
  return jsonPath(o, path)[0];
}

function podStatus(o: KubeObject): string {
  if (o.metadata.deletionTimestamp) return 'Terminating';
  const status = (o.status ?? {}) as JsonObject;
  let reason = typeof status.reason === 'string' ? status.reason : String(status.phase ?? 'Pending');
  const init = (status.initContainerStatuses ?? []) as JsonObject[];
  for (const [i, c] of init.entries()) {
    const state = (c.state ?? {}) as JsonObject;
    const t = state.terminated as JsonObject | undefined;
    if (t && t.exitCode === 0) continue;
    if (t) return `Init:${String(t.reason ?? `ExitCode:${String(t.exitCode)}`)}`;
    const w = state.waiting as JsonObject | undefined;
    if (w?.reason && w.reason !== 'PodInitializing') return `Init:${String(w.reason)}`;
    return `Init:${i}/${init.length}`;
  }
  for (const c of (status.containerStatuses ?? []) as JsonObject[]) {
    const state = (c.state ?? {}) as JsonObject;
    const w = state.waiting as JsonObject | undefined;
    const t = state.terminated as JsonObject | undefined;
    if (w?.reason) reason = String(w.reason);
    else if (t)
      reason = String(t.reason ?? (t.signal ? `Signal:${String(t.signal)}` : `ExitCode:${String(t.exitCode)}`));
  }
  return reason;
}

function builtinColumns(t: ResourceType): Column[] {
  const key = `${t.group}/${t.resource}`;
  switch (key) {
    case '/pods':
      return [
        nameColumn,
        col('Ready', (o) => {
          const statuses = (get(o, '.status.containerStatuses') ?? []) as JsonObject[];
          const total = ((get(o, '.spec.containers') ?? []) as Json[]).length;
          return `${statuses.filter((s) => s.ready === true).length}/${total}`;
        }),
        col('Status', podStatus),
        col(
          'Restarts',
          (o) =>
            ((get(o, '.status.containerStatuses') ?? []) as JsonObject[]).reduce(
              (n, s) => n + Number(s.restartCount ?? 0),
              0,
            ),
          0,
          'string',
        ),
        ageColumn,
        col('IP', (o) => get(o, '.status.podIP') ?? '<none>', 1),
        col('Node', (o) => get(o, '.spec.nodeName') ?? '<none>', 1),
        col('Nominated Node', (o) => get(o, '.status.nominatedNodeName') ?? '<none>', 1),
        col('Readiness Gates', () => '<none>', 1),
      ];
    case '/nodes':
      return [
        nameColumn,
        col('Status', (o) => {
          const ready = (get(o, '.status.conditions[?(@.type=="Ready")].status') ?? 'Unknown') as string;
          const base = ready === 'True' ? 'Ready' : ready === 'False' ? 'NotReady' : 'Unknown';
          return get(o, '.spec.unschedulable') === true ? `${base},SchedulingDisabled` : base;
        }),
        col(
          'Roles',
          (o) =>
            Object.keys(o.metadata.labels ?? {})
              .filter((l) => l.startsWith('node-role.kubernetes.io/'))
              .map((l) => l.slice('node-role.kubernetes.io/'.length))
              .join(',') || '<none>',
        ),
        ageColumn,
        col('Version', (o) => get(o, '.status.nodeInfo.kubeletVersion') ?? ''),
        col('Internal-IP', (o) => get(o, '.status.addresses[?(@.type=="InternalIP")].address') ?? '<none>', 1),
        col('External-IP', (o) => get(o, '.status.addresses[?(@.type=="ExternalIP")].address') ?? '<none>', 1),
        col('OS-Image', (o) => get(o, '.status.nodeInfo.osImage') ?? '<unknown>', 1),
        col('Kernel-Version', (o) => get(o, '.status.nodeInfo.kernelVersion') ?? '<unknown>', 1),
        col('Container-Runtime', (o) => get(o, '.status.nodeInfo.containerRuntimeVersion') ?? '<unknown>', 1),
      ];
    case '/namespaces':
      return [nameColumn, col('Status', (o) => get(o, '.status.phase') ?? ''), ageColumn];
    case '/configmaps':
      return [
        nameColumn,
        col(
          'Data',
          (o) =>
            Object.keys((o.data ?? {}) as JsonObject).length + Object.keys((o.binaryData ?? {}) as JsonObject).length,
          0,
          'integer',
        ),
        ageColumn,
      ];
    case '/secrets':
      return [
        nameColumn,
        col('Type', (o) => (o.type ?? 'Opaque') as Json),
        col('Data', (o) => Object.keys((o.data ?? {}) as JsonObject).length, 0, 'integer'),
        ageColumn,
      ];
    case '/serviceaccounts':
      return [nameColumn, col('Secrets', (o) => ((o.secrets ?? []) as Json[]).length, 0, 'integer'), ageColumn];
    case '/events':
    case 'events.k8s.io/events':
      return [
        col('Last Seen', (o) => age(o.lastTimestamp ?? o.eventTime ?? o.metadata.creationTimestamp)),
        col('Type', (o) => (o.type ?? '') as Json),
        col('Reason', (o) => (o.reason ?? '') as Json),
        col('Object', (o) => {
          const ref = (o.involvedObject ?? o.regarding ?? {}) as JsonObject;
          return `${String(ref.kind ?? '').toLowerCase()}/${String(ref.name ?? '')}`;
        }),
        col('Message', (o) => (o.message ?? o.note ?? '') as Json),
      ];
    case 'apps/deployments':
      return [
        nameColumn,
        col('Ready', (o) => `${Number(get(o, '.status.readyReplicas') ?? 0)}/${Number(get(o, '.spec.replicas') ?? 1)}`),
        col('Up-to-date', (o) => Number(get(o, '.status.updatedReplicas') ?? 0), 0, 'integer'),
        col('Available', (o) => Number(get(o, '.status.availableReplicas') ?? 0), 0, 'integer'),
        ageColumn,
      ];
    case 'apps/replicasets':
      return [
        nameColumn,
        col('Desired', (o) => Number(get(o, '.spec.replicas') ?? 1), 0, 'integer'),
        col('Current', (o) => Number(get(o, '.status.replicas') ?? 0), 0, 'integer'),
        col('Ready', (o) => Number(get(o, '.status.readyReplicas') ?? 0), 0, 'integer'),
        ageColumn,
      ];
    case 'apiextensions.k8s.io/customresourcedefinitions':
      return [nameColumn, col('Created At', (o) => o.metadata.creationTimestamp, 0, 'date')];
    case 'coordination.k8s.io/leases':
      return [nameColumn, col('Holder', (o) => get(o, '.spec.holderIdentity') ?? ''), ageColumn];
    default:
      return [nameColumn, ageColumn];
  }
}

function crdCell(column: PrinterColumn, o: KubeObject): Json {
  const value = jsonPath(o, column.jsonPath)[0];
  if (value === undefined || value === null) return null;
  switch (column.type) {
    case 'date':
      return typeof value === 'string' ? age(value) : '<invalid>';
    case 'integer':
      return typeof value === 'number' ? Math.trunc(value) : null;
    case 'number':
      return typeof value === 'number' ? value : null;
    case 'boolean':
      return typeof value === 'boolean' ? value : null;
    default:
      return typeof value === 'string' ? value : JSON.stringify(value);
  }
}

function columnsFor(t: ResourceType): Column[] {
  if (!t.crd) return builtinColumns(t);
  return [
    nameColumn,
    ...t.crd.printerColumns.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? '',
      description: c.description ?? '',
      priority: c.priority ?? 0,
      cell: (o: KubeObject) => crdCell(c, o),
    })),
  ];
}

export type IncludeObject = 'None' | 'Metadata' | 'Object';

/** Server-side `meta.k8s.io/v1` Table, as `kubectl get` requests it. */
export function toTable(
  t: ResourceType,
  objects: KubeObject[],
  listMeta: JsonObject,
  include: IncludeObject,
  withHeaders = true,
): JsonObject {
  const columns = columnsFor(t);
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMeta,
    columnDefinitions: withHeaders
      ? columns.map((c) => ({
          name: c.name,
          type: c.type,
          format: c.format,
          description: c.description,
          priority: c.priority,
        }))
      : [],
    rows: objects.map((o) => ({
      cells: columns.map((c) => c.cell(o)),
      object:
        include === 'None'
          ? null
          : include === 'Object'
            ? o
            : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
    })),
  };
}

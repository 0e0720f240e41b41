import type { FieldError } from './errors.ts';
import { isObject, type Json, type JsonObject } from './patch.ts';
import type { KubeObject } from './store.ts';
import { validateName } from './validation.ts';

/** Pod defaults that kube-apiserver's defaulting and admission (ServiceAccount, DefaultTolerationSeconds) apply. */
export function defaultPod(pod: KubeObject): void {
  const spec = (isObject(pod.spec) ? pod.spec : (pod.spec = {})) as JsonObject;
  spec.restartPolicy ??= 'Always';
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.securityContext ??= {};
  spec.serviceAccountName ??= (spec.serviceAccount as string | undefined) ?? 'default';
  spec.serviceAccount = spec.serviceAccountName;
  spec.enableServiceLinks ??= true;
  spec.priority ??= 0;
  spec.preemptionPolicy ??= 'PreemptLowerPriority';
  const tolerations = (Array.isArray(spec.tolerations) ? spec.tolerations : []) as JsonObject[];
  for (const key of ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable'])
    if (!tolerations.some((t) => t.key === key && t.effect === 'NoExecute'))
      tolerations.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 });
  spec.tolerations = tolerations;
  for (const list of ['initContainers', 'containers'])
    for (const c of (Array.isArray(spec[list]) ? spec[list] : []) as Json[]) {
      if (!isObject(c)) continue;
      c.terminationMessagePath ??= '/dev/termination-log';
      c.terminationMessagePolicy ??= 'File';
      c.resources ??= {};
      if (c.imagePullPolicy === undefined && typeof c.image === 'string') {
        const lastPart = c.image.split('/').pop() ?? '';
        const tagged = lastPart.includes(':') && !lastPart.endsWith(':latest');
        c.imagePullPolicy = tagged || c.image.includes('@') ? 'IfNotPresent' : 'Always';
      }
    }
}

function quantities(c: JsonObject, kind: 'requests' | 'limits'): JsonObject {
  const r = isObject(c.resources) ? c.resources : {};
  return (isObject(r[kind]) ? r[kind] : {}) as JsonObject;
}

export function qosClass(pod: KubeObject): string {
  const spec = (pod.spec ?? {}) as JsonObject;
  const containers = [...((spec.containers ?? []) as JsonObject[]), ...((spec.initContainers ?? []) as JsonObject[])];
  let any = false;
  let guaranteed = true;
  for (const c of containers) {
    const requests = quantities(c, 'requests');
    const limits = quantities(c, 'limits');
    if (Object.keys(requests).length || Object.keys(limits).length) any = true;
    for (const r of ['cpu', 'memory']) {
      if (limits[r] === undefined) guaranteed = false;
      else if (requests[r] !== undefined && String(requests[r]) !== String(limits[r])) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

export function validatePod(pod: KubeObject): FieldError[] {
  const errors: FieldError[] = [];
  const spec = pod.spec;
  if (!isObject(spec)) return [{ type: 'FieldValueRequired', field: 'spec', detail: '' }];
  const containers = spec.containers;
  if (!Array.isArray(containers) || containers.length === 0)
    errors.push({ type: 'FieldValueRequired', field: 'spec.containers', detail: '' });
  const names = new Set<string>();
  for (const list of ['initContainers', 'containers'])
    ((Array.isArray(spec[list]) ? spec[list] : []) as Json[]).forEach((c, i) => {
      const field = `spec.${list}[${i}]`;
      if (!isObject(c)) {
        errors.push({ type: 'FieldValueInvalid', field, value: c, detail: 'must be an object' });
        return;
      }
      if (typeof c.name !== 'string' || c.name === '')
        errors.push({ type: 'FieldValueRequired', field: `${field}.name`, detail: '' });
      else {
        errors.push(...validateName(c.name, 'label', `${field}.name`));
        if (names.has(c.name))
          errors.push({ type: 'FieldValueDuplicate', field: `${field}.name`, value: c.name, detail: '' });
        names.add(c.name);
      }
      if (typeof c.image !== 'string' || c.image.trim() === '')
        errors.push({ type: 'FieldValueRequired', field: `${field}.image`, detail: '' });
      for (const key of ['command', 'args'])
        if (c[key] !== undefined && (!Array.isArray(c[key]) || (c[key] as Json[]).some((x) => typeof x !== 'string')))
          errors.push({
            type: 'FieldValueInvalid',
            field: `${field}.${key}`,
            value: c[key],
            detail: 'must be a list of strings',
          });
      if (!['File', 'FallbackToLogsOnError'].includes(String(c.terminationMessagePolicy)))
        errors.push({
          type: 'FieldValueNotSupported',
          field: `${field}.terminationMessagePolicy`,
          value: c.terminationMessagePolicy,
          detail: 'supported values: "File", "FallbackToLogsOnError"',
        });
    });
  if (!['Always', 'OnFailure', 'Never'].includes(String(spec.restartPolicy)))
    errors.push({
      type: 'FieldValueNotSupported',
      field: 'spec.restartPolicy',
      value: spec.restartPolicy,
      detail: 'supported values: "Always", "OnFailure", "Never"',
    });
  if (
    spec.activeDeadlineSeconds !== undefined &&
    !(typeof spec.activeDeadlineSeconds === 'number' && spec.activeDeadlineSeconds > 0)
  )
    errors.push({
      type: 'FieldValueInvalid',
      field: 'spec.activeDeadlineSeconds',
      value: spec.activeDeadlineSeconds,
      detail: 'must be greater than or equal to 1',
    });
  const volumes = new Set<string>();
  ((Array.isArray(spec.volumes) ? spec.volumes : []) as JsonObject[]).forEach((v, i) => {
    if (typeof v?.name !== 'string')
      errors.push({ type: 'FieldValueRequired', field: `spec.volumes[${i}].name`, detail: '' });
    else {
      if (volumes.has(v.name))
        errors.push({ type: 'FieldValueDuplicate', field: `spec.volumes[${i}].name`, value: v.name, detail: '' });
      volumes.add(v.name);
    }
  });
  for (const list of ['initContainers', 'containers'])
    ((Array.isArray(spec[list]) ? spec[list] : []) as JsonObject[]).forEach((c, i) =>
      ((Array.isArray(c?.volumeMounts) ? c.volumeMounts : []) as JsonObject[]).forEach((m, j) => {
        if (typeof m?.name !== 'string' || !volumes.has(m.name))
          errors.push({
            type: 'FieldValueNotFound' as FieldError['type'],
            field: `spec.${list}[${i}].volumeMounts[${j}].name`,
            value: m?.name,
            detail: '',
          });
      }),
    );
  return errors.map((e) =>
    e.type === ('FieldValueNotFound' as FieldError['type'])
      ? { ...e, type: 'FieldValueInvalid', detail: 'volume not found' }
      : e,
  );
}

const podUpdateMessage =
  'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)';

/** A pod's spec is immutable apart from images, the active deadline and added tolerations. */
export function validatePodUpdate(next: KubeObject, old: KubeObject): FieldError[] {
  const mask = (spec: Json | undefined): string => {
    const s = structuredClone(isObject(spec) ? spec : {}) as JsonObject;
    for (const list of ['containers', 'initContainers'])
      for (const c of (Array.isArray(s[list]) ? s[list] : []) as JsonObject[]) if (isObject(c)) delete c.image;
    delete s.activeDeadlineSeconds;
    delete s.tolerations;
    delete s.terminationGracePeriodSeconds;
    delete s.schedulingGates;
    return JSON.stringify(s);
  };
  const errors: FieldError[] = [];
  if (mask(next.spec) !== mask(old.spec))
    errors.push({ type: 'FieldValueForbidden', field: 'spec', detail: podUpdateMessage });
  const oldTolerations = (((old.spec as JsonObject)?.tolerations ?? []) as Json[]).map((t) => JSON.stringify(t));
  const newTolerations = new Set(
    (((next.spec as JsonObject)?.tolerations ?? []) as Json[]).map((t) => JSON.stringify(t)),
  );
  if (oldTolerations.some((t) => !newTolerations.has(t)))
    errors.push({
      type: 'FieldValueForbidden',
      field: 'spec.tolerations',
      detail: 'existing toleration can not be modified except its tolerationSeconds',
    });
  return errors;
}

export function validatePodStatusUpdate(next: KubeObject, old: KubeObject): FieldError[] {
  const oldPhase = (old.status as JsonObject | undefined)?.phase;
  const newPhase = (next.status as JsonObject | undefined)?.phase;
  if ((oldPhase === 'Succeeded' || oldPhase === 'Failed') && newPhase !== oldPhase)
    return [
      {
        type: 'FieldValueForbidden',
        field: 'status.phase',
        detail: `may not transition from ${String(oldPhase)} to ${String(newPhase)}`,
      },
    ];
  return [];
}

const base64Re = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const configKeyRe = /^[-._a-zA-Z0-9]+$/;

export function validateConfigKeys(obj: KubeObject, fields: string[]): FieldError[] {
  const errors: FieldError[] = [];
  for (const f of fields) {
    const data = obj[f];
    if (data === undefined || data === null) continue;
    if (!isObject(data)) {
      errors.push({ type: 'FieldValueInvalid', field: f, value: data, detail: 'must be a map' });
      continue;
    }
    for (const [k, v] of Object.entries(data)) {
      if (!configKeyRe.test(k) || k.length > 253)
        errors.push({
          type: 'FieldValueInvalid',
          field: `${f}[${k}]`,
          value: k,
          detail:
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
        });
      if (typeof v !== 'string')
        errors.push({ type: 'FieldValueInvalid', field: `${f}[${k}]`, value: v, detail: 'must be a string' });
      else if ((f === 'data' && obj.kind === 'Secret') || f === 'binaryData')
        if (!base64Re.test(v))
          errors.push({
            type: 'FieldValueInvalid',
            field: `${f}[${k}]`,
            value: '<bytes>',
            detail: 'illegal base64 data',
          });
    }
  }
  return errors;
}

/** Secrets: stringData is merged into data (base64) and dropped, as the API server does on write. */
export function normaliseSecret(secret: KubeObject): void {
  if (isObject(secret.stringData)) {
    const data = (isObject(secret.data) ? secret.data : {}) as JsonObject;
    for (const [k, v] of Object.entries(secret.stringData)) data[k] = Buffer.from(String(v)).toString('base64');
    secret.data = data;
  }
  delete secret.stringData;
  secret.type ??= 'Opaque';
}

export function immutableDataErrors(next: KubeObject, old: KubeObject): FieldError[] {
  if (old.immutable !== true) return [];
  const errors: FieldError[] = [];
  if (next.immutable !== true)
    errors.push({
      type: 'FieldValueForbidden',
      field: 'immutable',
      detail: 'field is immutable when `immutable` is set',
    });
  for (const f of ['data', 'binaryData'])
    if (JSON.stringify(next[f] ?? {}) !== JSON.stringify(old[f] ?? {}))
      errors.push({ type: 'FieldValueForbidden', field: f, detail: 'field is immutable when `immutable` is set' });
  return errors;
}

/** events.k8s.io/v1 Events share storage with core/v1 Events; these convert between the two shapes. */
const eventRenames: [string, string][] = [
  ['regarding', 'involvedObject'],
  ['note', 'message'],
  ['deprecatedSource', 'source'],
  ['deprecatedFirstTimestamp', 'firstTimestamp'],
  ['deprecatedLastTimestamp', 'lastTimestamp'],
  ['deprecatedCount', 'count'],
  ['reportingController', 'reportingComponent'],
];

const coreEventRenames = eventRenames.map(([events, core]): [string, string] => [core, events]);

function renameFields(e: KubeObject, renames: [string, string][]): KubeObject {
  const out = { ...e } as KubeObject;
  for (const [from, to] of renames)
    if (out[from] !== undefined) {
      out[to] = out[from] as Json;
      delete out[from];
    }
  return out;
}

export function eventToCore(e: KubeObject): KubeObject {
  return renameFields(e, eventRenames);
}

export function eventFromCore(e: KubeObject): KubeObject {
  return renameFields(e, coreEventRenames);
}

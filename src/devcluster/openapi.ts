import { createHash } from 'node:crypto';
import type { JsonObject } from './patch.ts';
import { apiVersionOf, hasStatus, type ResourceType } from './resources.ts';

/** Schema component names as kube-apiserver spells them: io.k8s.api.core.v1.Pod, dev.tracejob.v1alpha1.TraceJob. */
function definitionName(t: ResourceType): string {
  if (t.crd) return `${t.group.split('.').reverse().join('.')}.${t.version}.${t.kind}`;
  const group = t.group === '' ? 'core' : t.group.replace(/\.k8s\.io$/, '').replace(/\./g, '');
  return `io.k8s.api.${group}.${t.version}.${t.kind}`;
}

const objectMeta = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';

function kindSchema(t: ResourceType, ref: (name: string) => string): JsonObject {
  const gvk = [{ group: t.group, version: t.version, kind: t.kind }];
  const base: JsonObject = t.crd?.schema
    ? (structuredClone(t.crd.schema) as unknown as JsonObject)
    : {
        type: 'object',
        description: `${t.kind} (${apiVersionOf(t)}), stored as given by the development cluster.`,
        'x-kubernetes-preserve-unknown-fields': true,
      };
  const properties = { ...((base.properties as JsonObject | undefined) ?? {}) };
  properties.apiVersion = {
    type: 'string',
    description: 'APIVersion defines the versioned schema of this representation of an object.',
  };
  properties.kind = {
    type: 'string',
    description: 'Kind is a string value representing the REST resource this object represents.',
  };
  properties.metadata = { allOf: [{ $ref: ref(objectMeta) }], description: "Standard object's metadata." };
  return { ...base, properties, 'x-kubernetes-group-version-kind': gvk };
}

const objectMetaSchema: JsonObject = {
  type: 'object',
  description: 'ObjectMeta is metadata that all persisted resources must have.',
  properties: {
    name: { type: 'string' },
    generateName: { type: 'string' },
    namespace: { type: 'string' },
    uid: { type: 'string' },
    resourceVersion: { type: 'string' },
    generation: { type: 'integer', format: 'int64' },
    creationTimestamp: { type: 'string', format: 'date-time' },
    deletionTimestamp: { type: 'string', format: 'date-time' },
    deletionGracePeriodSeconds: { type: 'integer', format: 'int64' },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
    finalizers: { type: 'array', items: { type: 'string' } },
    ownerReferences: { type: 'array', items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
    managedFields: { type: 'array', items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
  },
};

const queryParams = (names: string[]): JsonObject[] =>
  names.map((name) => ({ name, in: 'query', schema: { type: 'string', uniqueItems: true } }));

function operations(t: ResourceType, ref: string, v3: boolean): { collection: JsonObject; item: JsonObject } {
  const gvk = { group: t.group, version: t.version, kind: t.kind };
  const body = v3
    ? { requestBody: { content: { '*/*': { schema: { $ref: ref } } } } }
    : { parameters: [{ name: 'body', in: 'body', required: true, schema: { $ref: ref } }] };
  const op = (action: string, params: string[], withBody: boolean): JsonObject =>
    ({
      operationId: `${action}${t.kind}`,
      'x-kubernetes-action': action,
      'x-kubernetes-group-version-kind': gvk,
      ...(withBody && v3 ? body : {}),
      parameters: [...queryParams(params), ...(withBody && !v3 ? (body.parameters as JsonObject[]) : [])],
      responses: {
        '200': {
          description: 'OK',
          ...(v3 ? { content: { 'application/json': { schema: { $ref: ref } } } } : { schema: { $ref: ref } }),
        },
      },
    }) as JsonObject;
  const writeParams = ['dryRun', 'fieldManager', 'fieldValidation'];
  return {
    collection: {
      get: op('list', ['labelSelector', 'fieldSelector', 'limit', 'continue', 'resourceVersion', 'watch'], false),
      post: op('post', writeParams, true),
      delete: op('deletecollection', ['labelSelector', 'fieldSelector'], false),
    },
    item: {
      get: op('get', [], false),
      put: op('put', writeParams, true),
      patch: op('patch', [...writeParams, 'force'], true),
      delete: op('delete', ['gracePeriodSeconds', 'propagationPolicy', 'dryRun'], false),
    },
  };
}

function pathsOf(t: ResourceType, ref: string, v3: boolean): Record<string, JsonObject> {
  const prefix = t.group ? `/apis/${t.group}/${t.version}` : `/api/${t.version}`;
  const collection = t.namespaced ? `${prefix}/namespaces/{namespace}/${t.resource}` : `${prefix}/${t.resource}`;
  const ops = operations(t, ref, v3);
  const out: Record<string, JsonObject> = {};
  if (t.createOnly) {
    out[collection] = { post: ops.collection.post as JsonObject };
    return out;
  }
  out[collection] = ops.collection;
  out[`${collection}/{name}`] = ops.item;
  if (hasStatus(t))
    out[`${collection}/{name}/status`] = {
      get: ops.item.get as JsonObject,
      put: ops.item.put as JsonObject,
      patch: ops.item.patch as JsonObject,
    };
  return out;
}

/** Swagger 2.0 document (/openapi/v2). */
export function openApiV2(types: ResourceType[]): JsonObject {
  const definitions: JsonObject = { [objectMeta]: objectMetaSchema };
  let paths: JsonObject = {};
  for (const t of types) {
    const name = definitionName(t);
    definitions[name] = kindSchema(t, (n) => `#/definitions/${n}`);
    paths = { ...paths, ...pathsOf(t, `#/definitions/${name}`, false) };
  }
  return { swagger: '2.0', info: { title: 'Kubernetes', version: 'v1.35.0' }, paths, definitions };
}

function groupVersions(types: ResourceType[]): Map<string, ResourceType[]> {
  const out = new Map<string, ResourceType[]>();
  for (const t of types) {
    const key = t.group ? `apis/${t.group}/${t.version}` : `api/${t.version}`;
    out.set(key, [...(out.get(key) ?? []), t]);
  }
  return out;
}

/** OpenAPI v3 document for one group-version (/openapi/v3/apis/GROUP/VERSION). */
export function openApiV3GroupVersion(types: ResourceType[], groupVersion: string): JsonObject | undefined {
  const members = groupVersions(types).get(groupVersion);
  if (!members) return undefined;
  const schemas: JsonObject = { [objectMeta]: objectMetaSchema };
  let paths: JsonObject = {};
  for (const t of members) {
    const name = definitionName(t);
    schemas[name] = kindSchema(t, (n) => `#/components/schemas/${n}`);
    paths = { ...paths, ...pathsOf(t, `#/components/schemas/${name}`, true) };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.35.0' }, paths, components: { schemas } };
}

/** /openapi/v3: one entry per group-version, with a content hash clients use to cache. */
export function openApiV3Root(types: ResourceType[]): JsonObject {
  const paths: JsonObject = {};
  for (const key of groupVersions(types).keys()) {
    const hash = createHash('sha512')
      .update(JSON.stringify(openApiV3GroupVersion(types, key)))
      .digest('hex')
      .slice(0, 32)
      .toUpperCase();
    paths[key] = { serverRelativeURL: `/openapi/v3/${key}?hash=${hash}` };
  }
  return { paths };
}

import type { FieldError } from './errors.ts';
import { isObject, type JsonObject } from './patch.ts';
import { builtinTypes, type PrinterColumn, type ResourceType } from './resources.ts';
import { compileErrors, type Schema } from './schema.ts';
import { fieldsAt } from './selectors.ts';
import type { KubeObject } from './store.ts';

/** The resources the server serves right now: the built-in ones plus those of established CRDs. */
export class Registry {
  private readonly builtins = builtinTypes();
  private crdTypes: ResourceType[] = [];

  all(): ResourceType[] {
    return [...this.builtins, ...this.crdTypes];
  }

  find(group: string, version: string, resource: string): ResourceType | undefined {
    return this.all().find((t) => t.group === group && t.version === version && t.resource === resource);
  }

  /** Every served version of a storage location (CRD versions share one). */
  byStorageKey(storageKey: string): ResourceType[] {
    return this.all().filter((t) => t.storageKey === storageKey);
  }

  namespacedStorageKeys(): string[] {
    return [
      ...new Set(
        this.all()
          .filter((t) => t.namespaced && !t.createOnly)
          .map((t) => t.storageKey),
      ),
    ];
  }

  /** Rebuilds the CRD-backed types from the established CRD objects. */
  setCrds(crds: KubeObject[]): void {
    this.crdTypes = crds.filter(isEstablished).flatMap(typesOfCrd);
  }
}

export function isEstablished(crd: KubeObject): boolean {
  const conditions = ((crd.status as JsonObject | undefined)?.conditions ?? []) as JsonObject[];
  return !crd.metadata.deletionTimestamp && conditions.some((c) => c.type === 'Established' && c.status === 'True');
}

interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  schema?: { openAPIV3Schema?: Schema };
  subresources?: { status?: JsonObject; scale?: JsonObject };
  additionalPrinterColumns?: PrinterColumn[];
  selectableFields?: { jsonPath: string }[];
}

interface CrdSpec {
  group: string;
  scope: string;
  names: {
    plural: string;
    singular?: string;
    kind: string;
    listKind?: string;
    shortNames?: string[];
    categories?: string[];
  };
  versions: CrdVersion[];
}

export function typesOfCrd(crd: KubeObject): ResourceType[] {
  const spec = crd.spec as unknown as CrdSpec;
  const storage = spec.versions.find((v) => v.storage)?.name ?? spec.versions[0]?.name ?? 'v1';
  return spec.versions
    .filter((v) => v.served)
    .map((v) => {
      const selectable: Record<string, string[]> = {};
      for (const f of v.selectableFields ?? [])
        selectable[f.jsonPath.replace(/^\./, '')] = f.jsonPath.replace(/^\./, '').split('.');
      return {
        group: spec.group,
        version: v.name,
        resource: spec.names.plural,
        kind: spec.names.kind,
        listKind: spec.names.listKind ?? `${spec.names.kind}List`,
        singular: spec.names.singular ?? spec.names.kind.toLowerCase(),
        namespaced: spec.scope === 'Namespaced',
        shortNames: spec.names.shortNames ?? [],
        categories: spec.names.categories ?? [],
        subresources: v.subresources?.status ? ['status'] : [],
        createOnly: false,
        nameRule: 'subdomain',
        fields: fieldsAt(selectable),
        storageKey: `${spec.names.plural}.${spec.group}`,
        crd: {
          schema: v.schema?.openAPIV3Schema,
          printerColumns: v.additionalPrinterColumns ?? [],
          storageVersion: storage,
        },
      } satisfies ResourceType;
    });
}

const dns1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** Defaults kube-apiserver writes into a CRD on create and update. */
export function defaultCrd(crd: KubeObject): void {
  const spec = crd.spec as unknown as Partial<CrdSpec> & { conversion?: JsonObject };
  if (!isObject(spec)) return;
  if (isObject(spec.names) && typeof spec.names.kind === 'string') {
    spec.names.singular ??= spec.names.kind.toLowerCase();
    spec.names.listKind ??= `${spec.names.kind}List`;
  }
  spec.conversion ??= { strategy: 'None' };
  for (const v of Array.isArray(spec.versions) ? spec.versions : [])
    if (isObject(v) && v.additionalPrinterColumns === undefined)
      v.additionalPrinterColumns = [{ name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }];
}

export function validateCrd(crd: KubeObject): FieldError[] {
  const errors: FieldError[] = [];
  const spec = crd.spec as unknown as Partial<CrdSpec>;
  if (!isObject(spec)) return [{ type: 'FieldValueRequired', field: 'spec', detail: '' }];
  if (typeof spec.group !== 'string' || spec.group === '')
    errors.push({ type: 'FieldValueRequired', field: 'spec.group', detail: '' });
  else if (!spec.group.includes('.'))
    errors.push({
      type: 'FieldValueInvalid',
      field: 'spec.group',
      value: spec.group,
      detail: 'should be a domain with at least one dot',
    });
  if (spec.scope !== 'Namespaced' && spec.scope !== 'Cluster')
    errors.push({
      type: 'FieldValueNotSupported',
      field: 'spec.scope',
      value: spec.scope ?? '',
      detail: 'supported values: "Cluster", "Namespaced"',
    });
  const names = spec.names;
  if (!isObject(names)) errors.push({ type: 'FieldValueRequired', field: 'spec.names', detail: '' });
  else {
    for (const f of ['plural', 'kind'] as const)
      if (typeof names[f] !== 'string' || names[f] === '')
        errors.push({ type: 'FieldValueRequired', field: `spec.names.${f}`, detail: '' });
    if (typeof names.plural === 'string' && names.plural && !dns1035.test(names.plural))
      errors.push({
        type: 'FieldValueInvalid',
        field: 'spec.names.plural',
        value: names.plural,
        detail:
          "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
      });
    if (typeof names.kind === 'string' && names.kind && !/^[A-Z][A-Za-z0-9]*$/.test(names.kind))
      errors.push({
        type: 'FieldValueInvalid',
        field: 'spec.names.kind',
        value: names.kind,
        detail: 'may have mixed case, but should otherwise match: [a-z]([-a-z0-9]*[a-z0-9])?',
      });
    if (
      typeof names.plural === 'string' &&
      typeof spec.group === 'string' &&
      crd.metadata.name !== `${names.plural}.${spec.group}`
    )
      errors.push({
        type: 'FieldValueInvalid',
        field: 'metadata.name',
        value: crd.metadata.name,
        detail: `must be spec.names.plural+"."+spec.group`,
      });
  }
  const versions = spec.versions as unknown as CrdVersion[] | undefined;
  if (!Array.isArray(versions) || versions.length === 0) {
    errors.push({
      type: 'FieldValueInvalid',
      field: 'spec.versions',
      value: [],
      detail: 'must have exactly one version marked as storage version',
    });
    return errors;
  }
  const storage = versions.filter((v) => v.storage === true).length;
  if (storage !== 1)
    errors.push({
      type: 'FieldValueInvalid',
      field: 'spec.versions',
      value: versions.map((v) => v.name),
      detail: 'must have exactly one version marked as storage version',
    });
  versions.forEach((v, i) => {
    const field = `spec.versions[${i}]`;
    if (typeof v.name !== 'string' || !/^v\d+((alpha|beta)\d+)?$|^[a-z0-9]+$/.test(v.name))
      errors.push({
        type: 'FieldValueInvalid',
        field: `${field}.name`,
        value: v.name ?? '',
        detail: 'must be a DNS-1035 label',
      });
    const schema = v.schema?.openAPIV3Schema;
    if (!isObject(schema))
      errors.push({
        type: 'FieldValueRequired',
        field: `${field}.schema.openAPIV3Schema`,
        detail: 'schemas are required',
      });
    else {
      if (schema.type !== 'object')
        errors.push({
          type: 'FieldValueInvalid',
          field: `${field}.schema.openAPIV3Schema.type`,
          value: schema.type ?? '',
          detail: 'must be object at the root',
        });
      errors.push(...structuralErrors(schema, `${field}.schema.openAPIV3Schema`));
      errors.push(...compileErrors(schema, `${field}.schema.openAPIV3Schema`));
    }
  });
  return errors;
}

/** The structural rule that matters most in practice: every property declares its type (or says it preserves unknowns). */
function structuralErrors(schema: Schema, path: string): FieldError[] {
  const errors: FieldError[] = [];
  if (!schema.type && !schema['x-kubernetes-int-or-string'] && !schema['x-kubernetes-preserve-unknown-fields'])
    errors.push({
      type: 'FieldValueRequired',
      field: `${path}.type`,
      detail: 'must not be empty for specified object fields',
    });
  for (const [k, p] of Object.entries(schema.properties ?? {}))
    errors.push(...structuralErrors(p, `${path}.properties[${k}]`));
  if (isObject(schema.additionalProperties))
    errors.push(...structuralErrors(schema.additionalProperties as Schema, `${path}.additionalProperties`));
  if (schema.items) errors.push(...structuralErrors(schema.items, `${path}.items`));
  if (schema.type === 'array' && !schema.items)
    errors.push({ type: 'FieldValueRequired', field: `${path}.items`, detail: 'must be specified' });
  return errors;
}

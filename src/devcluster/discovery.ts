import { verbsOf, type ResourceType } from './resources.ts';
import type { JsonObject } from './patch.ts';

const subresourceKinds: Record<string, { kind: string; group?: string; version?: string; verbs: string[] }> = {
  status: { kind: '', verbs: ['get', 'patch', 'update'] },
  log: { kind: 'Pod', verbs: ['get'] },
  binding: { kind: 'Binding', verbs: ['create'] },
  eviction: { kind: 'Eviction', group: 'policy', version: 'v1', verbs: ['create'] },
  finalize: { kind: '', verbs: ['update'] },
};

function subresourceInfo(
  t: ResourceType,
  sub: string,
): { kind: string; group?: string; version?: string; verbs: string[] } {
  const info = subresourceKinds[sub] ?? { kind: '', verbs: ['get'] };
  return { ...info, kind: info.kind || t.kind };
}

/** Legacy discovery: `/api/v1` and `/apis/GROUP/VERSION`. */
export function resourceList(groupVersion: string, types: ResourceType[]): JsonObject {
  const resources: JsonObject[] = [];
  for (const t of types) {
    resources.push({
      name: t.resource,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: verbsOf(t),
      ...(t.shortNames.length ? { shortNames: t.shortNames } : {}),
      ...(t.categories.length ? { categories: t.categories } : {}),
    });
    for (const sub of t.subresources) {
      const info = subresourceInfo(t, sub);
      resources.push({
        name: `${t.resource}/${sub}`,
        singularName: '',
        namespaced: t.namespaced,
        ...(info.group ? { group: info.group, version: info.version ?? 'v1' } : {}),
        kind: info.kind,
        verbs: info.verbs,
      });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources };
}

function groupsOf(types: ResourceType[]): Map<string, Map<string, ResourceType[]>> {
  const groups = new Map<string, Map<string, ResourceType[]>>();
  for (const t of types) {
    let versions = groups.get(t.group);
    if (!versions) {
      versions = new Map();
      groups.set(t.group, versions);
    }
    versions.set(t.version, [...(versions.get(t.version) ?? []), t]);
  }
  return groups;
}

/** Kubernetes' version priority: GA before beta before alpha, higher numbers first. */
function compareVersions(a: string, b: string): number {
  const parse = (v: string): [number, number, number] => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return [3, 0, 0];
    return [m[2] === undefined ? 0 : m[2] === 'beta' ? 1 : 2, -Number(m[1]), -Number(m[3] ?? 0)];
  };
  const [x, y] = [parse(a), parse(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return (x[i] ?? 0) - (y[i] ?? 0);
  return a.localeCompare(b);
}

export function apiGroup(name: string, versions: string[]): JsonObject {
  const sorted = [...versions].sort(compareVersions);
  return {
    kind: 'APIGroup',
    apiVersion: 'v1',
    name,
    versions: sorted.map((v) => ({ groupVersion: `${name}/${v}`, version: v })),
    preferredVersion: { groupVersion: `${name}/${sorted[0]}`, version: sorted[0] ?? 'v1' },
  };
}

export function groupList(types: ResourceType[]): JsonObject {
  const groups = groupsOf(types.filter((t) => t.group !== ''));
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: [...groups.entries()].map(([name, versions]) => {
      const g = apiGroup(name, [...versions.keys()]);
      delete g.kind;
      delete g.apiVersion;
      return g;
    }),
  };
}

export const aggregatedMediaType = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

/** Aggregated discovery (apidiscovery.k8s.io/v2), which kubectl 1.35 asks for first. */
export function aggregatedDiscovery(types: ResourceType[], core: boolean): JsonObject {
  const groups = groupsOf(types.filter((t) => (t.group === '') === core));
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: 'apidiscovery.k8s.io/v2',
    metadata: {},
    items: [...groups.entries()].map(([name, versions]) => ({
      metadata: { name, creationTimestamp: null },
      versions: [...versions.keys()].sort(compareVersions).map((version) => ({
        version,
        freshness: 'Current',
        resources: (versions.get(version) ?? []).map((t) => ({
          resource: t.resource,
          responseKind: { group: t.group, version: t.version, kind: t.kind },
          scope: t.namespaced ? 'Namespaced' : 'Cluster',
          singularResource: t.singular,
          verbs: verbsOf(t),
          ...(t.shortNames.length ? { shortNames: t.shortNames } : {}),
          ...(t.categories.length ? { categories: t.categories } : {}),
          ...(t.subresources.length
            ? {
                subresources: t.subresources.map((sub) => {
                  const info = subresourceInfo(t, sub);
                  return {
                    subresource: sub,
                    responseKind: { group: info.group ?? t.group, version: info.version ?? t.version, kind: info.kind },
                    verbs: info.verbs,
                  };
                }),
              }
            : {}),
        })),
      })),
    })),
  };
}

export function versionInfo(): JsonObject {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  return {
    major: '1',
    minor: '35',
    emulationMajor: '1',
    emulationMinor: '35',
    minCompatibilityMajor: '1',
    minCompatibilityMinor: '34',
    gitVersion: 'v1.35.0',
    gitCommit: 'tracejob-devcluster',
    gitTreeState: 'clean',
    buildDate: '2026-01-01T00:00:00Z',
    goVersion: 'go1.25.0',
    compiler: 'gc',
    platform: `linux/${arch}`,
  };
}

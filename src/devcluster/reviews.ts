import { badRequest } from './errors.ts';
import { isObject, type JsonObject } from './patch.ts';
import { apiVersionOf, type ResourceType } from './resources.ts';
import type { KubeObject, Store } from './store.ts';

/** The one identity the development cluster's kubeconfig carries. */
export const adminUser = { username: 'devcluster-admin', groups: ['system:masters', 'system:authenticated'] };

interface Attributes {
  namespace?: string;
  verb?: string;
  group?: string;
  resource?: string;
  subresource?: string;
  name?: string;
}

interface Rule {
  verbs?: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
}

function ruleAllows(rule: Rule, a: Attributes): boolean {
  const has = (list: string[] | undefined, v: string): boolean =>
    (list ?? []).includes('*') || (list ?? []).includes(v);
  const resource = a.subresource ? `${a.resource ?? ''}/${a.subresource}` : (a.resource ?? '');
  return (
    has(rule.verbs, a.verb ?? '') &&
    has(rule.apiGroups, a.group ?? '') &&
    (has(rule.resources, resource) ||
      (a.subresource !== undefined && (rule.resources ?? []).includes(`*/${a.subresource}`))) &&
    (!rule.resourceNames?.length || (a.name !== undefined && rule.resourceNames.includes(a.name)))
  );
}

/** RBAC over the stored Roles and bindings: enough for SubjectAccessReviews about users other than the admin. */
export function rbacAllows(
  store: Store,
  user: string,
  groups: string[],
  a: Attributes,
): { allowed: boolean; reason: string } {
  if (groups.includes('system:masters')) return { allowed: true, reason: 'member of system:masters' };
  const subjectMatches = (binding: KubeObject): boolean =>
    ((binding.subjects ?? []) as JsonObject[]).some(
      (s) =>
        (s.kind === 'User' && s.name === user) ||
        (s.kind === 'Group' && groups.includes(String(s.name))) ||
        (s.kind === 'ServiceAccount' && user === `system:serviceaccount:${String(s.namespace)}:${String(s.name)}`),
    );
  const rulesOf = (ref: JsonObject, namespace: string | undefined): Rule[] => {
    const role =
      ref.kind === 'ClusterRole'
        ? store.get('clusterroles.rbac.authorization.k8s.io', undefined, String(ref.name))
        : store.get('roles.rbac.authorization.k8s.io', namespace, String(ref.name));
    return ((role?.rules ?? []) as Rule[]).filter(isObject as (r: unknown) => r is Rule);
  };
  for (const b of store.list('clusterrolebindings.rbac.authorization.k8s.io'))
    if (subjectMatches(b) && rulesOf(b.roleRef as JsonObject, undefined).some((r) => ruleAllows(r, a)))
      return { allowed: true, reason: `RBAC: allowed by ClusterRoleBinding "${b.metadata.name}"` };
  if (a.namespace)
    for (const b of store.list('rolebindings.rbac.authorization.k8s.io', a.namespace))
      if (subjectMatches(b) && rulesOf(b.roleRef as JsonObject, a.namespace).some((r) => ruleAllows(r, a)))
        return {
          allowed: true,
          reason: `RBAC: allowed by RoleBinding "${b.metadata.name}" in namespace "${a.namespace}"`,
        };
  return { allowed: false, reason: '' };
}

/** Answers the review kinds (access reviews, whoami, token review); nothing is stored. */
export function reviewResponse(t: ResourceType, body: unknown, store: Store, token: string | undefined): JsonObject {
  if (!isObject(body)) throw badRequest(`the body must be a ${t.kind}`);
  const spec = (isObject(body.spec) ? body.spec : {}) as JsonObject;
  const base = { kind: t.kind, apiVersion: apiVersionOf(t), metadata: { creationTimestamp: null }, spec };
  switch (t.resource) {
    case 'selfsubjectaccessreviews':
      return { ...base, status: { allowed: true, reason: 'the development cluster admin may do everything' } };
    case 'subjectaccessreviews':
    case 'localsubjectaccessreviews': {
      const attrs = (spec.resourceAttributes ?? {}) as Attributes;
      const decision = rbacAllows(store, String(spec.user ?? ''), ((spec.groups ?? []) as string[]).map(String), attrs);
      return { ...base, status: decision };
    }
    case 'selfsubjectrulesreviews':
      return {
        ...base,
        status: {
          resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
          nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
          incomplete: false,
        },
      };
    case 'selfsubjectreviews':
      return { ...base, status: { userInfo: adminUser } };
    case 'tokenreviews': {
      const ok = token === undefined || spec.token === token;
      return {
        ...base,
        status: ok ? { authenticated: true, user: adminUser } : { authenticated: false, error: 'invalid bearer token' },
      };
    }
    default:
      throw badRequest(`${t.resource} is not a review resource`);
  }
}

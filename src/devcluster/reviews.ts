import type { IncomingMessage } from 'node:http';
import { badRequest } from './errors.ts';
import { isObject, type JsonObject } from './patch.ts';
import { labelSelectorObjectMatches } from './selectors.ts';
import { apiVersionOf, type ResourceType } from './resources.ts';
import type { KubeObject, Store } from './store.ts';

/** Who a request acts as: the kubeconfig's admin, or whoever it impersonates (`kubectl --as`). */
export interface Identity {
  username: string;
  groups: string[];
}

/** The one identity the development cluster's kubeconfig carries. */
const adminUser: Identity = { username: 'devcluster-admin', groups: ['system:masters', 'system:authenticated'] };

/**
 * Impersonation headers, as kube-apiserver honours them for a caller allowed to impersonate (the admin is). This is how
 * tests act as a team that is not cluster-admin: `kubectl --as=alice --as-group=team-a`.
 */
export function identityOf(req: IncomingMessage): Identity {
  const user = req.headersDistinct['impersonate-user']?.[0];
  if (!user) return adminUser;
  const groups = [...(req.headersDistinct['impersonate-group'] ?? [])];
  const sa = /^system:serviceaccount:([^:]+):[^:]+$/.exec(user);
  if (sa) groups.push('system:serviceaccounts', `system:serviceaccounts:${sa[1]}`);
  groups.push('system:authenticated');
  return { username: user, groups: [...new Set(groups)] };
}

export interface Attributes {
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

const clusterRoles = 'clusterroles.rbac.authorization.k8s.io';

/** The RBAC rules that apply to an identity in a namespace (cluster-wide ones included). */
function rulesFor(store: Store, who: Identity, namespace: string | undefined): { rules: Rule[]; via: string }[] {
  const subjectMatches = (binding: KubeObject): boolean =>
    ((binding.subjects ?? []) as JsonObject[]).some(
      (s) =>
        (s.kind === 'User' && s.name === who.username) ||
        (s.kind === 'Group' && who.groups.includes(String(s.name))) ||
        (s.kind === 'ServiceAccount' &&
          who.username === `system:serviceaccount:${String(s.namespace)}:${String(s.name)}`),
    );
  const rulesOf = (ref: JsonObject, ns: string | undefined): Rule[] => {
    const role =
      ref.kind === 'ClusterRole'
        ? store.get(clusterRoles, undefined, String(ref.name))
        : store.get('roles.rbac.authorization.k8s.io', ns, String(ref.name));
    return ((role?.rules ?? []) as unknown[]).filter((r): r is Rule => isObject(r));
  };
  const out: { rules: Rule[]; via: string }[] = [];
  for (const b of store.list('clusterrolebindings.rbac.authorization.k8s.io'))
    if (subjectMatches(b))
      out.push({ rules: rulesOf(b.roleRef as JsonObject, undefined), via: `ClusterRoleBinding "${b.metadata.name}"` });
  if (namespace)
    for (const b of store.list('rolebindings.rbac.authorization.k8s.io', namespace))
      if (subjectMatches(b))
        out.push({
          rules: rulesOf(b.roleRef as JsonObject, namespace),
          via: `RoleBinding "${b.metadata.name}" in namespace "${namespace}"`,
        });
  return out;
}

/** Requests every authenticated identity may make (system:basic-user, system:discovery). */
const everyone: Rule[] = [
  {
    verbs: ['create'],
    apiGroups: ['authorization.k8s.io'],
    resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'],
  },
  { verbs: ['create'], apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'] },
];

/** RBAC authorization over the stored Roles, ClusterRoles and bindings. */
export function authorize(store: Store, who: Identity, a: Attributes): { allowed: boolean; reason: string } {
  if (who.groups.includes('system:masters')) return { allowed: true, reason: 'member of system:masters' };
  if (everyone.some((r) => ruleAllows(r, a))) return { allowed: true, reason: 'allowed to every authenticated user' };
  for (const { rules, via } of rulesFor(store, who, a.namespace))
    if (rules.some((r) => ruleAllows(r, a))) return { allowed: true, reason: `RBAC: allowed by ${via}` };
  return { allowed: false, reason: '' };
}

/** kube-apiserver's wording of a refusal. */
export function forbiddenMessage(who: Identity, a: Attributes): string {
  const resource = a.subresource ? `${a.resource ?? ''}/${a.subresource}` : (a.resource ?? '');
  const subject = a.name
    ? `${resource}${a.group ? `.${a.group}` : ''} "${a.name}"`
    : `${resource}${a.group ? `.${a.group}` : ''}`;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  return `${subject} is forbidden: User "${who.username}" cannot ${a.verb ?? ''} resource "${resource}" in API group "${a.group ?? ''}" ${scope}`;
}

/** Answers the review kinds (access reviews, whoami, token review); nothing is stored. */
export function reviewResponse(
  t: ResourceType,
  body: unknown,
  store: Store,
  who: Identity,
  namespace: string | undefined,
): JsonObject {
  if (!isObject(body)) throw badRequest(`the body must be a ${t.kind}`);
  const spec = (isObject(body.spec) ? body.spec : {}) as JsonObject;
  const base = { kind: t.kind, apiVersion: apiVersionOf(t), metadata: { creationTimestamp: null }, spec };
  switch (t.resource) {
    case 'selfsubjectaccessreviews':
      return { ...base, status: authorize(store, who, (spec.resourceAttributes ?? {}) as Attributes) };
    case 'subjectaccessreviews':
    case 'localsubjectaccessreviews': {
      const attrs = { ...((spec.resourceAttributes ?? {}) as Attributes), ...(namespace ? { namespace } : {}) };
      const subject: Identity = {
        username: String(spec.user ?? ''),
        groups: [...((spec.groups ?? []) as string[]).map(String), 'system:authenticated'],
      };
      return { ...base, status: authorize(store, subject, attrs) };
    }
    case 'selfsubjectrulesreviews': {
      if (who.groups.includes('system:masters'))
        return {
          ...base,
          status: {
            resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
            nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
            incomplete: false,
          },
        };
      const rules = [
        ...everyone,
        ...rulesFor(store, who, typeof spec.namespace === 'string' ? spec.namespace : undefined).flatMap(
          (r) => r.rules,
        ),
      ];
      return {
        ...base,
        status: { resourceRules: rules as unknown as JsonObject[], nonResourceRules: [], incomplete: false },
      };
    }
    case 'selfsubjectreviews':
      return { ...base, status: { userInfo: { username: who.username, groups: who.groups } } };
    case 'tokenreviews':
      return { ...base, status: { authenticated: false, error: 'the development cluster issues no tokens' } };
    default:
      throw badRequest(`${t.resource} is not a review resource`);
  }
}

/** ClusterRoles with an aggregationRule get the union of the rules of the ClusterRoles their selectors match. */
export function aggregatedRules(role: KubeObject, all: KubeObject[]): JsonObject[] | undefined {
  const rule = role.aggregationRule as JsonObject | undefined;
  if (!isObject(rule)) return undefined;
  const selectors = (rule.clusterRoleSelectors ?? []) as Parameters<typeof labelSelectorObjectMatches>[0][];
  const rules: JsonObject[] = [];
  const seen = new Set<string>();
  for (const other of all) {
    if (other.metadata.name === role.metadata.name) continue;
    if (!selectors.some((s) => labelSelectorObjectMatches(s, other.metadata.labels))) continue;
    for (const r of (other.rules ?? []) as JsonObject[]) {
      const key = JSON.stringify(r);
      if (!seen.has(key)) {
        seen.add(key);
        rules.push(r);
      }
    }
  }
  return rules;
}

const read = ['get', 'list', 'watch'];
const write = ['create', 'delete', 'deletecollection', 'patch', 'update'];
const workloads = ['deployments', 'statefulsets', 'daemonsets', 'replicasets'];

/** The default ClusterRoles of a fresh cluster: cluster-admin, and admin ⊃ edit ⊃ view built by aggregation. */
export function defaultClusterRoles(): JsonObject[] {
  const aggregate = (name: string, label: string): JsonObject => ({
    metadata: { name, labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' } },
    aggregationRule: {
      clusterRoleSelectors: [{ matchLabels: { [`rbac.authorization.k8s.io/aggregate-to-${label}`]: 'true' } }],
    },
    rules: [],
  });
  const base = (name: string, labels: Record<string, string>, rules: Rule[]): JsonObject => ({
    metadata: { name, labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults', ...labels } },
    rules: rules as unknown as JsonObject[],
  });
  return [
    base('cluster-admin', {}, [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }]),
    { ...aggregate('admin', 'admin') },
    {
      ...aggregate('edit', 'edit'),
      metadata: {
        name: 'edit',
        labels: {
          'kubernetes.io/bootstrapping': 'rbac-defaults',
          'rbac.authorization.k8s.io/aggregate-to-admin': 'true',
        },
      },
    },
    {
      ...aggregate('view', 'view'),
      metadata: {
        name: 'view',
        labels: {
          'kubernetes.io/bootstrapping': 'rbac-defaults',
          'rbac.authorization.k8s.io/aggregate-to-edit': 'true',
        },
      },
    },
    base('system:aggregate-to-view', { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' }, [
      {
        verbs: read,
        apiGroups: [''],
        resources: [
          'pods',
          'pods/log',
          'pods/status',
          'configmaps',
          'endpoints',
          'persistentvolumeclaims',
          'services',
          'serviceaccounts',
          'events',
          'namespaces',
          'replicationcontrollers',
          'resourcequotas',
          'limitranges',
        ],
      },
      { verbs: read, apiGroups: ['apps'], resources: [...workloads, 'controllerrevisions'] },
      { verbs: read, apiGroups: ['batch'], resources: ['jobs', 'cronjobs'] },
      { verbs: read, apiGroups: ['policy'], resources: ['poddisruptionbudgets'] },
      { verbs: read, apiGroups: ['events.k8s.io'], resources: ['events'] },
      { verbs: read, apiGroups: ['networking.k8s.io'], resources: ['ingresses', 'networkpolicies'] },
      { verbs: read, apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'] },
      { verbs: read, apiGroups: ['coordination.k8s.io'], resources: ['leases'] },
    ]),
    base('system:aggregate-to-edit', { 'rbac.authorization.k8s.io/aggregate-to-edit': 'true' }, [
      {
        verbs: [...read, ...write],
        apiGroups: [''],
        resources: [
          'pods',
          'configmaps',
          'secrets',
          'services',
          'serviceaccounts',
          'persistentvolumeclaims',
          'replicationcontrollers',
          'endpoints',
        ],
      },
      {
        verbs: ['create', 'get'],
        apiGroups: [''],
        resources: ['pods/exec', 'pods/attach', 'pods/portforward', 'pods/eviction'],
      },
      { verbs: [...read, ...write], apiGroups: ['apps'], resources: workloads },
      { verbs: [...read, ...write], apiGroups: ['batch'], resources: ['jobs', 'cronjobs'] },
      { verbs: [...read, ...write], apiGroups: ['policy'], resources: ['poddisruptionbudgets'] },
      { verbs: [...read, ...write], apiGroups: ['networking.k8s.io'], resources: ['ingresses', 'networkpolicies'] },
      { verbs: [...read, ...write], apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'] },
      { verbs: [...read, ...write], apiGroups: ['coordination.k8s.io'], resources: ['leases'] },
    ]),
    base('system:aggregate-to-admin', { 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' }, [
      { verbs: [...read, ...write], apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'] },
      { verbs: ['create'], apiGroups: ['authorization.k8s.io'], resources: ['localsubjectaccessreviews'] },
    ]),
  ];
}

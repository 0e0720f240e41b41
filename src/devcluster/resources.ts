import type { Schema } from './schema.ts';
import { fieldsAt, metadataFields, type FieldGetter } from './selectors.ts';
import type { NameRule } from './validation.ts';

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  format?: string;
  priority?: number;
}

/** A resource the server serves, built in or registered by a CRD. */
export interface ResourceType {
  group: string;
  version: string;
  resource: string;
  kind: string;
  listKind: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** Subresources served: status, log, binding, eviction, finalize. */
  subresources: string[];
  /** Review-style resources: only create, nothing stored. */
  createOnly: boolean;
  nameRule: NameRule;
  fields: Record<string, FieldGetter>;
  /** Where objects live: resources served under two groups (events) share it. */
  storageKey: string;
  crd?: {
    schema: Schema | undefined;
    printerColumns: PrinterColumn[];
    storageVersion: string;
  };
}

export function apiVersionOf(t: Pick<ResourceType, 'group' | 'version'>): string {
  return t.group ? `${t.group}/${t.version}` : t.version;
}

export function hasStatus(t: ResourceType): boolean {
  return t.subresources.includes('status');
}

export function verbsOf(t: ResourceType): string[] {
  if (t.createOnly) return ['create'];
  return ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
}

interface Builtin {
  group?: string;
  version?: string;
  resource: string;
  kind: string;
  cluster?: boolean;
  short?: string[];
  categories?: string[];
  sub?: string[];
  createOnly?: boolean;
  nameRule?: NameRule;
  fields?: Record<string, string[]>;
  storageKey?: string;
}

const eventFields = {
  'involvedObject.kind': ['involvedObject', 'kind'],
  'involvedObject.namespace': ['involvedObject', 'namespace'],
  'involvedObject.name': ['involvedObject', 'name'],
  'involvedObject.uid': ['involvedObject', 'uid'],
  'involvedObject.apiVersion': ['involvedObject', 'apiVersion'],
  'involvedObject.resourceVersion': ['involvedObject', 'resourceVersion'],
  'involvedObject.fieldPath': ['involvedObject', 'fieldPath'],
  'regarding.kind': ['involvedObject', 'kind'],
  'regarding.namespace': ['involvedObject', 'namespace'],
  'regarding.name': ['involvedObject', 'name'],
  'regarding.uid': ['involvedObject', 'uid'],
  reason: ['reason'],
  reportingComponent: ['reportingComponent'],
  reportingController: ['reportingComponent'],
  source: ['source', 'component'],
  type: ['type'],
};

const builtins: Builtin[] = [
  {
    resource: 'namespaces',
    kind: 'Namespace',
    cluster: true,
    short: ['ns'],
    sub: ['status', 'finalize'],
    nameRule: 'label',
    fields: { 'status.phase': ['status', 'phase'] },
  },
  {
    resource: 'nodes',
    kind: 'Node',
    cluster: true,
    short: ['no'],
    sub: ['status'],
    fields: { 'spec.unschedulable': ['spec', 'unschedulable'] },
  },
  {
    resource: 'pods',
    kind: 'Pod',
    short: ['po'],
    categories: ['all'],
    sub: ['status', 'log', 'binding', 'eviction'],
    fields: {
      'spec.nodeName': ['spec', 'nodeName'],
      'spec.restartPolicy': ['spec', 'restartPolicy'],
      'spec.schedulerName': ['spec', 'schedulerName'],
      'spec.serviceAccountName': ['spec', 'serviceAccountName'],
      'spec.hostNetwork': ['spec', 'hostNetwork'],
      'status.phase': ['status', 'phase'],
      'status.podIP': ['status', 'podIP'],
      'status.nominatedNodeName': ['status', 'nominatedNodeName'],
    },
  },
  { resource: 'events', kind: 'Event', short: ['ev'], fields: eventFields, storageKey: 'events' },
  {
    group: 'events.k8s.io',
    resource: 'events',
    kind: 'Event',
    short: ['ev'],
    fields: eventFields,
    storageKey: 'events',
  },
  { resource: 'configmaps', kind: 'ConfigMap', short: ['cm'] },
  { resource: 'secrets', kind: 'Secret', fields: { type: ['type'] } },
  { resource: 'serviceaccounts', kind: 'ServiceAccount', short: ['sa'] },
  { resource: 'services', kind: 'Service', short: ['svc'], categories: ['all'], sub: ['status'], nameRule: 'label' },
  { resource: 'endpoints', kind: 'Endpoints', short: ['ep'] },
  { resource: 'persistentvolumeclaims', kind: 'PersistentVolumeClaim', short: ['pvc'], sub: ['status'] },
  { resource: 'persistentvolumes', kind: 'PersistentVolume', cluster: true, short: ['pv'], sub: ['status'] },
  { resource: 'limitranges', kind: 'LimitRange', short: ['limits'] },
  { resource: 'resourcequotas', kind: 'ResourceQuota', short: ['quota'], sub: ['status'] },
  {
    resource: 'replicationcontrollers',
    kind: 'ReplicationController',
    short: ['rc'],
    categories: ['all'],
    sub: ['status'],
  },
  { resource: 'podtemplates', kind: 'PodTemplate' },
  {
    group: 'apps',
    resource: 'deployments',
    kind: 'Deployment',
    short: ['deploy'],
    categories: ['all'],
    sub: ['status'],
  },
  {
    group: 'apps',
    resource: 'statefulsets',
    kind: 'StatefulSet',
    short: ['sts'],
    categories: ['all'],
    sub: ['status'],
  },
  { group: 'apps', resource: 'daemonsets', kind: 'DaemonSet', short: ['ds'], categories: ['all'], sub: ['status'] },
  { group: 'apps', resource: 'replicasets', kind: 'ReplicaSet', short: ['rs'], categories: ['all'], sub: ['status'] },
  { group: 'apps', resource: 'controllerrevisions', kind: 'ControllerRevision' },
  { group: 'batch', resource: 'jobs', kind: 'Job', categories: ['all'], sub: ['status'] },
  { group: 'batch', resource: 'cronjobs', kind: 'CronJob', short: ['cj'], categories: ['all'], sub: ['status'] },
  {
    group: 'autoscaling',
    version: 'v2',
    resource: 'horizontalpodautoscalers',
    kind: 'HorizontalPodAutoscaler',
    short: ['hpa'],
    categories: ['all'],
    sub: ['status'],
  },
  { group: 'policy', resource: 'poddisruptionbudgets', kind: 'PodDisruptionBudget', short: ['pdb'], sub: ['status'] },
  { group: 'rbac.authorization.k8s.io', resource: 'roles', kind: 'Role', nameRule: 'path-segment' },
  { group: 'rbac.authorization.k8s.io', resource: 'rolebindings', kind: 'RoleBinding', nameRule: 'path-segment' },
  {
    group: 'rbac.authorization.k8s.io',
    resource: 'clusterroles',
    kind: 'ClusterRole',
    cluster: true,
    nameRule: 'path-segment',
  },
  {
    group: 'rbac.authorization.k8s.io',
    resource: 'clusterrolebindings',
    kind: 'ClusterRoleBinding',
    cluster: true,
    nameRule: 'path-segment',
  },
  { group: 'coordination.k8s.io', resource: 'leases', kind: 'Lease' },
  {
    group: 'apiextensions.k8s.io',
    resource: 'customresourcedefinitions',
    kind: 'CustomResourceDefinition',
    cluster: true,
    short: ['crd', 'crds'],
    categories: ['api-extensions'],
    sub: ['status'],
  },
  { group: 'networking.k8s.io', resource: 'networkpolicies', kind: 'NetworkPolicy', short: ['netpol'] },
  { group: 'networking.k8s.io', resource: 'ingresses', kind: 'Ingress', short: ['ing'], sub: ['status'] },
  { group: 'networking.k8s.io', resource: 'ingressclasses', kind: 'IngressClass', cluster: true },
  { group: 'discovery.k8s.io', resource: 'endpointslices', kind: 'EndpointSlice' },
  { group: 'scheduling.k8s.io', resource: 'priorityclasses', kind: 'PriorityClass', cluster: true, short: ['pc'] },
  { group: 'storage.k8s.io', resource: 'storageclasses', kind: 'StorageClass', cluster: true, short: ['sc'] },
  { group: 'storage.k8s.io', resource: 'csidrivers', kind: 'CSIDriver', cluster: true },
  {
    group: 'admissionregistration.k8s.io',
    resource: 'validatingwebhookconfigurations',
    kind: 'ValidatingWebhookConfiguration',
    cluster: true,
    categories: ['api-extensions'],
  },
  {
    group: 'admissionregistration.k8s.io',
    resource: 'mutatingwebhookconfigurations',
    kind: 'MutatingWebhookConfiguration',
    cluster: true,
    categories: ['api-extensions'],
  },
  {
    group: 'admissionregistration.k8s.io',
    resource: 'validatingadmissionpolicies',
    kind: 'ValidatingAdmissionPolicy',
    cluster: true,
    categories: ['api-extensions'],
    sub: ['status'],
  },
  {
    group: 'admissionregistration.k8s.io',
    resource: 'validatingadmissionpolicybindings',
    kind: 'ValidatingAdmissionPolicyBinding',
    cluster: true,
    categories: ['api-extensions'],
  },
  {
    group: 'authorization.k8s.io',
    resource: 'selfsubjectaccessreviews',
    kind: 'SelfSubjectAccessReview',
    cluster: true,
    createOnly: true,
  },
  {
    group: 'authorization.k8s.io',
    resource: 'selfsubjectrulesreviews',
    kind: 'SelfSubjectRulesReview',
    cluster: true,
    createOnly: true,
  },
  {
    group: 'authorization.k8s.io',
    resource: 'subjectaccessreviews',
    kind: 'SubjectAccessReview',
    cluster: true,
    createOnly: true,
  },
  {
    group: 'authorization.k8s.io',
    resource: 'localsubjectaccessreviews',
    kind: 'LocalSubjectAccessReview',
    createOnly: true,
  },
  {
    group: 'authentication.k8s.io',
    resource: 'selfsubjectreviews',
    kind: 'SelfSubjectReview',
    cluster: true,
    createOnly: true,
  },
  { group: 'authentication.k8s.io', resource: 'tokenreviews', kind: 'TokenReview', cluster: true, createOnly: true },
];

export function builtinTypes(): ResourceType[] {
  return builtins.map((b) => {
    const group = b.group ?? '';
    return {
      group,
      version: b.version ?? 'v1',
      resource: b.resource,
      kind: b.kind,
      listKind: `${b.kind}List`,
      singular: b.kind.toLowerCase(),
      namespaced: !b.cluster,
      shortNames: b.short ?? [],
      categories: b.categories ?? [],
      subresources: b.sub ?? [],
      createOnly: b.createOnly ?? false,
      nameRule: b.nameRule ?? 'subdomain',
      fields: b.fields ? fieldsAt(b.fields) : { ...metadataFields },
      storageKey: b.storageKey ?? (group ? `${b.resource}.${group}` : b.resource),
    };
  });
}

import { ApiError } from './errors.ts';
import type { JsonObject, Json } from './patch.ts';

/**
 * Request bodies in Kubernetes' protobuf encoding, which client-go's typed clients (kubectl create, helm's release
 * storage) send for built-in kinds. The envelope is `k8s\0` + runtime.Unknown{typeMeta, raw}; `raw` is decoded with
 * the field numbers of k8s.io/api's generated.proto for the kinds those clients write. Responses stay JSON, which
 * these clients accept as well.
 */

type FieldType = 'string' | 'bytes' | 'int' | 'bool' | 'time' | 'stringMap' | 'bytesMap' | 'quantityMap' | Message;

interface Field {
  name: string;
  type: FieldType;
  repeated?: boolean;
  /** Pointer fields in Go: present even when zero (e.g. immutable: false). */
  keepZero?: boolean;
}

type Message = { [fieldNumber: number]: Field };

/** Messages whose unknown fields must not be dropped silently (a dropped securityContext would change what runs). */
const strictMessages = new WeakMap<Message, string>();
function strict(name: string, m: Message): Message {
  strictMessages.set(m, name);
  return m;
}

const time: FieldType = 'time';

const ownerReference: Message = {
  1: { name: 'kind', type: 'string' },
  3: { name: 'name', type: 'string' },
  4: { name: 'uid', type: 'string' },
  5: { name: 'apiVersion', type: 'string' },
  6: { name: 'controller', type: 'bool', keepZero: true },
  7: { name: 'blockOwnerDeletion', type: 'bool', keepZero: true },
};

const objectMeta: Message = {
  1: { name: 'name', type: 'string' },
  2: { name: 'generateName', type: 'string' },
  3: { name: 'namespace', type: 'string' },
  5: { name: 'uid', type: 'string' },
  6: { name: 'resourceVersion', type: 'string' },
  7: { name: 'generation', type: 'int' },
  8: { name: 'creationTimestamp', type: time },
  9: { name: 'deletionTimestamp', type: time },
  10: { name: 'deletionGracePeriodSeconds', type: 'int', keepZero: true },
  11: { name: 'labels', type: 'stringMap' },
  12: { name: 'annotations', type: 'stringMap' },
  13: { name: 'ownerReferences', type: ownerReference, repeated: true },
  14: { name: 'finalizers', type: 'string', repeated: true },
};

const localObjectReference: Message = { 1: { name: 'name', type: 'string' } };
const objectReference: Message = {
  1: { name: 'kind', type: 'string' },
  2: { name: 'namespace', type: 'string' },
  3: { name: 'name', type: 'string' },
  4: { name: 'uid', type: 'string' },
  5: { name: 'apiVersion', type: 'string' },
  6: { name: 'resourceVersion', type: 'string' },
  7: { name: 'fieldPath', type: 'string' },
};

const kinds: Record<string, Message> = {
  'v1/Namespace': {
    1: { name: 'metadata', type: objectMeta },
    2: { name: 'spec', type: { 1: { name: 'finalizers', type: 'string', repeated: true } } },
  },
  'v1/Secret': {
    1: { name: 'metadata', type: objectMeta },
    2: { name: 'data', type: 'bytesMap' },
    3: { name: 'type', type: 'string' },
    4: { name: 'stringData', type: 'stringMap' },
    5: { name: 'immutable', type: 'bool', keepZero: true },
  },
  'v1/ConfigMap': {
    1: { name: 'metadata', type: objectMeta },
    2: { name: 'data', type: 'stringMap' },
    3: { name: 'binaryData', type: 'bytesMap' },
    4: { name: 'immutable', type: 'bool', keepZero: true },
  },
  'v1/ServiceAccount': {
    1: { name: 'metadata', type: objectMeta },
    2: { name: 'secrets', type: objectReference, repeated: true },
    3: { name: 'imagePullSecrets', type: localObjectReference, repeated: true },
    4: { name: 'automountServiceAccountToken', type: 'bool', keepZero: true },
  },
  'meta.k8s.io/v1/DeleteOptions': {
    1: { name: 'gracePeriodSeconds', type: 'int', keepZero: true },
    2: {
      name: 'preconditions',
      type: { 1: { name: 'uid', type: 'string' }, 2: { name: 'resourceVersion', type: 'string' } },
    },
    3: { name: 'orphanDependents', type: 'bool', keepZero: true },
    4: { name: 'propagationPolicy', type: 'string' },
    5: { name: 'dryRun', type: 'string', repeated: true },
  },
};
const resourceAttributes: Message = {
  1: { name: 'namespace', type: 'string' },
  2: { name: 'verb', type: 'string' },
  3: { name: 'group', type: 'string' },
  4: { name: 'version', type: 'string' },
  5: { name: 'resource', type: 'string' },
  6: { name: 'subresource', type: 'string' },
  7: { name: 'name', type: 'string' },
};
const nonResourceAttributes: Message = { 1: { name: 'path', type: 'string' }, 2: { name: 'verb', type: 'string' } };
const accessReviewSpec: Message = {
  1: { name: 'resourceAttributes', type: resourceAttributes },
  2: { name: 'nonResourceAttributes', type: nonResourceAttributes },
  3: { name: 'user', type: 'string' },
  4: { name: 'groups', type: 'string', repeated: true },
  6: { name: 'uid', type: 'string' },
};
kinds['authorization.k8s.io/v1/SelfSubjectAccessReview'] = {
  1: { name: 'metadata', type: objectMeta },
  2: { name: 'spec', type: accessReviewSpec },
};
kinds['authorization.k8s.io/v1/SubjectAccessReview'] = {
  1: { name: 'metadata', type: objectMeta },
  2: { name: 'spec', type: accessReviewSpec },
};
kinds['authorization.k8s.io/v1/LocalSubjectAccessReview'] = {
  1: { name: 'metadata', type: objectMeta },
  2: { name: 'spec', type: accessReviewSpec },
};
kinds['authorization.k8s.io/v1/SelfSubjectRulesReview'] = {
  1: { name: 'metadata', type: objectMeta },
  2: { name: 'spec', type: { 1: { name: 'namespace', type: 'string' } } },
};
kinds['authentication.k8s.io/v1/SelfSubjectReview'] = { 1: { name: 'metadata', type: objectMeta } };
const subject: Message = {
  1: { name: 'kind', type: 'string' },
  2: { name: 'apiGroup', type: 'string' },
  3: { name: 'name', type: 'string' },
  4: { name: 'namespace', type: 'string' },
};
const roleRef: Message = {
  1: { name: 'apiGroup', type: 'string' },
  2: { name: 'kind', type: 'string' },
  3: { name: 'name', type: 'string' },
};
const policyRule: Message = {
  1: { name: 'verbs', type: 'string', repeated: true },
  2: { name: 'apiGroups', type: 'string', repeated: true },
  3: { name: 'resources', type: 'string', repeated: true },
  4: { name: 'resourceNames', type: 'string', repeated: true },
  5: { name: 'nonResourceURLs', type: 'string', repeated: true },
};
const labelSelector: Message = {
  1: { name: 'matchLabels', type: 'stringMap' },
  2: {
    name: 'matchExpressions',
    type: {
      1: { name: 'key', type: 'string' },
      2: { name: 'operator', type: 'string' },
      3: { name: 'values', type: 'string', repeated: true },
    },
    repeated: true,
  },
};
for (const kind of ['RoleBinding', 'ClusterRoleBinding'])
  kinds[`rbac.authorization.k8s.io/v1/${kind}`] = {
    1: { name: 'metadata', type: objectMeta },
    2: { name: 'subjects', type: subject, repeated: true },
    3: { name: 'roleRef', type: roleRef },
  };
kinds['rbac.authorization.k8s.io/v1/Role'] = {
  1: { name: 'metadata', type: objectMeta },
  2: { name: 'rules', type: policyRule, repeated: true },
};
kinds['rbac.authorization.k8s.io/v1/ClusterRole'] = {
  1: { name: 'metadata', type: objectMeta },
  2: { name: 'rules', type: policyRule, repeated: true },
  3: { name: 'aggregationRule', type: { 1: { name: 'clusterRoleSelectors', type: labelSelector, repeated: true } } },
};
const quantityMap: FieldType = 'quantityMap';
const envVar = strict('EnvVar', { 1: { name: 'name', type: 'string' }, 2: { name: 'value', type: 'string' } });
const containerPort = strict('ContainerPort', {
  1: { name: 'name', type: 'string' },
  2: { name: 'hostPort', type: 'int' },
  3: { name: 'containerPort', type: 'int' },
  4: { name: 'protocol', type: 'string' },
  5: { name: 'hostIP', type: 'string' },
});
const securityContext = strict('SecurityContext', {
  2: { name: 'privileged', type: 'bool', keepZero: true },
  4: { name: 'runAsUser', type: 'int', keepZero: true },
  5: { name: 'runAsNonRoot', type: 'bool', keepZero: true },
  6: { name: 'readOnlyRootFilesystem', type: 'bool', keepZero: true },
  7: { name: 'allowPrivilegeEscalation', type: 'bool', keepZero: true },
  8: { name: 'runAsGroup', type: 'int', keepZero: true },
});
const container = strict('Container', {
  1: { name: 'name', type: 'string' },
  2: { name: 'image', type: 'string' },
  3: { name: 'command', type: 'string', repeated: true },
  4: { name: 'args', type: 'string', repeated: true },
  5: { name: 'workingDir', type: 'string' },
  6: { name: 'ports', type: containerPort, repeated: true },
  7: { name: 'env', type: envVar, repeated: true },
  8: {
    name: 'resources',
    type: strict('ResourceRequirements', {
      1: { name: 'limits', type: quantityMap },
      2: { name: 'requests', type: quantityMap },
    }),
  },
  13: { name: 'terminationMessagePath', type: 'string' },
  14: { name: 'imagePullPolicy', type: 'string' },
  15: { name: 'securityContext', type: securityContext },
  16: { name: 'stdin', type: 'bool' },
  17: { name: 'stdinOnce', type: 'bool' },
  18: { name: 'tty', type: 'bool' },
  20: { name: 'terminationMessagePolicy', type: 'string' },
});
const podSpec = strict('PodSpec', {
  2: { name: 'containers', type: container, repeated: true },
  3: { name: 'restartPolicy', type: 'string' },
  4: { name: 'terminationGracePeriodSeconds', type: 'int', keepZero: true },
  5: { name: 'activeDeadlineSeconds', type: 'int', keepZero: true },
  6: { name: 'dnsPolicy', type: 'string' },
  7: { name: 'nodeSelector', type: 'stringMap' },
  8: { name: 'serviceAccountName', type: 'string' },
  10: { name: 'nodeName', type: 'string' },
  11: { name: 'hostNetwork', type: 'bool' },
  12: { name: 'hostPID', type: 'bool' },
  13: { name: 'hostIPC', type: 'bool' },
  14: { name: 'securityContext', type: strict('PodSecurityContext', {}) },
  19: { name: 'schedulerName', type: 'string' },
  20: { name: 'initContainers', type: container, repeated: true },
});
kinds['v1/Pod'] = {
  1: { name: 'metadata', type: objectMeta },
  2: {
    name: 'spec',
    type: podSpec,
  },
  // Status is ignored on create; its fields are skipped.
  3: { name: 'status', type: {} },
};
kinds['apps/v1/Deployment'] = {
  1: { name: 'metadata', type: objectMeta },
  2: {
    name: 'spec',
    type: strict('DeploymentSpec', {
      1: { name: 'replicas', type: 'int', keepZero: true },
      2: { name: 'selector', type: labelSelector },
      3: {
        name: 'template',
        type: strict('PodTemplateSpec', {
          1: { name: 'metadata', type: objectMeta },
          2: { name: 'spec', type: podSpec },
        }),
      },
      4: { name: 'strategy', type: strict('DeploymentStrategy', { 1: { name: 'type', type: 'string' } }) },
      5: { name: 'minReadySeconds', type: 'int' },
      6: { name: 'revisionHistoryLimit', type: 'int', keepZero: true },
      7: { name: 'paused', type: 'bool' },
      9: { name: 'progressDeadlineSeconds', type: 'int', keepZero: true },
    }),
  },
  3: { name: 'status', type: {} },
};
kinds['v1/DeleteOptions'] = kinds['meta.k8s.io/v1/DeleteOptions'] as Message;

const magic = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

class Reader {
  private pos = 0;
  readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
  }
  done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++] as number;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 70n) throw new Error('varint too long');
    }
  }
  bytes(): Buffer {
    const len = Number(this.varint());
    if (this.pos + len > this.buf.length) throw new Error('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  /** Consumes a field's value and says whether it is the zero value (0, or an empty string/message). */
  zeroValue(wire: number): boolean {
    const start = this.pos;
    if (wire === 0) {
      if (this.varint() === 0n) return true;
    } else if (wire === 2) {
      if (this.bytes().length === 0) return true;
    } else this.skip(wire);
    this.pos = start;
    return false;
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

function decode(buf: Buffer, schema: Message): JsonObject {
  const r = new Reader(buf);
  const out: JsonObject = {};
  while (!r.done()) {
    const tag = r.varint();
    const number = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    const field = schema[number];
    if (!field) {
      const name = strictMessages.get(schema);
      // Go's protobuf encoding writes zero values of plain fields too; only a set value would be lost.
      if (name && !r.zeroValue(wire))
        throw new ApiError(
          415,
          'UnsupportedMediaType',
          `field ${number} of ${name} is not understood by the development cluster's protobuf decoder; send the object as application/json (kubectl create -f FILE does)`,
        );
      if (name === undefined) r.skip(wire);
      continue;
    }
    const value = decodeValue(r, wire, field.type);
    if (field.repeated) out[field.name] = [...((out[field.name] as Json[] | undefined) ?? []), value];
    else if (isMapType(field.type) && out[field.name])
      out[field.name] = { ...(out[field.name] as JsonObject), ...(value as JsonObject) };
    else out[field.name] = value;
  }
  for (const field of Object.values(schema)) {
    const v = out[field.name];
    if (v === undefined || field.keepZero || field.repeated) continue;
    const empty =
      v === '' ||
      v === 0 ||
      v === false ||
      v === null ||
      (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0);
    if (empty) delete out[field.name];
  }
  return out;
}

function isMapType(t: FieldType): boolean {
  return t === 'stringMap' || t === 'bytesMap' || t === 'quantityMap';
}

function decodeValue(r: Reader, wire: number, type: FieldType): Json {
  switch (type) {
    case 'string':
      return r.bytes().toString('utf8');
    case 'bytes':
      return r.bytes().toString('base64');
    case 'int':
      return Number(BigInt.asIntN(64, r.varint()));
    case 'bool':
      return r.varint() !== 0n;
    case 'time': {
      const t = decode(r.bytes(), { 1: { name: 'seconds', type: 'int' }, 2: { name: 'nanos', type: 'int' } });
      const seconds = Number(t.seconds ?? 0);
      return seconds === 0 ? null : new Date(seconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    }
    case 'quantityMap': {
      // resource.Quantity is a message with its string form in field 1.
      const entry = decode(r.bytes(), {
        1: { name: 'key', type: 'string' },
        2: { name: 'value', type: { 1: { name: 'string', type: 'string' } } },
      });
      return { [String(entry.key ?? '')]: String((entry.value as JsonObject | undefined)?.string ?? '') };
    }
    case 'stringMap':
    case 'bytesMap': {
      const entry = decode(r.bytes(), {
        1: { name: 'key', type: 'string' },
        2: { name: 'value', type: type === 'stringMap' ? 'string' : 'bytes' },
      });
      return { [String(entry.key ?? '')]: (entry.value ?? '') as Json };
    }
    default:
      if (wire !== 2) throw new Error('a message field must be length-delimited');
      return decode(r.bytes(), type);
  }
}

export function isProtobuf(contentType: string): boolean {
  return contentType.split(';')[0]?.trim() === 'application/vnd.kubernetes.protobuf';
}

/** Decodes a protobuf request body into the JSON object it stands for. */
export function decodeProtobufBody(body: Buffer): JsonObject {
  if (body.length < 4 || !body.subarray(0, 4).equals(magic))
    throw new ApiError(400, 'BadRequest', 'protobuf body does not start with the k8s\\0 envelope');
  try {
    const unknown = decode(body.subarray(4), {
      1: { name: 'typeMeta', type: { 1: { name: 'apiVersion', type: 'string' }, 2: { name: 'kind', type: 'string' } } },
      2: { name: 'raw', type: 'bytes' },
    });
    const typeMeta = (unknown.typeMeta ?? {}) as JsonObject;
    const apiVersion = String(typeMeta.apiVersion ?? '');
    const kind = String(typeMeta.kind ?? '');
    const schema = kinds[`${apiVersion}/${kind}`];
    if (!schema)
      throw new ApiError(
        415,
        'UnsupportedMediaType',
        `the development cluster decodes protobuf only for ${Object.keys(kinds).join(', ')}; send ${apiVersion}/${kind} as application/json`,
      );
    const raw = Buffer.from(String(unknown.raw ?? ''), 'base64');
    return { apiVersion, kind, ...decode(raw, schema) };
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError(400, 'BadRequest', `malformed protobuf body: ${(err as Error).message}`);
  }
}

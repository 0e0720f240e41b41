/** A `metav1.Status` failure, thrown anywhere in the API server and written as the HTTP response. */
export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: StatusDetails | undefined;

  constructor(code: number, reason: string, message: string, details?: StatusDetails) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }

  toStatus(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

/** Identifies the object an error is about, in kube-apiserver's wording: `pods "web-0"`, `tracejobs.tracejob.dev "x"`. */
export interface Subject {
  group: string;
  resource: string;
  kind: string;
  name: string;
}

function qualified(s: Subject): string {
  return s.group ? `${s.resource}.${s.group}` : s.resource;
}

export function notFound(s: Subject): ApiError {
  return new ApiError(404, 'NotFound', `${qualified(s)} "${s.name}" not found`, {
    name: s.name,
    group: s.group || undefined,
    kind: s.resource,
  });
}

export function alreadyExists(s: Subject): ApiError {
  return new ApiError(409, 'AlreadyExists', `${qualified(s)} "${s.name}" already exists`, {
    name: s.name,
    group: s.group || undefined,
    kind: s.resource,
  });
}

export function conflict(s: Subject, why: string): ApiError {
  return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(s)} "${s.name}": ${why}`, {
    name: s.name,
    group: s.group || undefined,
    kind: s.resource,
  });
}

export const staleObject =
  'the object has been modified; please apply your changes to the latest version and try again';

export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

export function forbidden(s: Subject, why: string): ApiError {
  return new ApiError(403, 'Forbidden', `${qualified(s)} "${s.name}" is forbidden: ${why}`, {
    name: s.name,
    group: s.group || undefined,
    kind: s.resource,
  });
}

export function expired(message: string): ApiError {
  return new ApiError(410, 'Expired', message);
}

export function resourceNotFound(): ApiError {
  return new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
}

export function methodNotAllowed(verb: string): ApiError {
  return new ApiError(
    405,
    'MethodNotAllowed',
    `the server does not allow this method on the requested resource (${verb})`,
    {},
  );
}

export function unsupportedMediaType(contentType: string, accepted: string[]): ApiError {
  return new ApiError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format (${contentType || 'none'}) - accepted media types include: ${accepted.join(', ')}`,
  );
}

/** One field problem, in the wording of k8s.io/apimachinery/pkg/util/validation/field. */
export interface FieldError {
  type:
    | 'FieldValueRequired'
    | 'FieldValueInvalid'
    | 'FieldValueNotSupported'
    | 'FieldValueForbidden'
    | 'FieldValueTooLong'
    | 'FieldValueTooMany'
    | 'FieldValueDuplicate'
    | 'FieldValueTypeInvalid';
  field: string;
  detail: string;
  value?: unknown;
}

const typeWords: Record<FieldError['type'], string> = {
  FieldValueRequired: 'Required value',
  FieldValueInvalid: 'Invalid value',
  FieldValueNotSupported: 'Unsupported value',
  FieldValueForbidden: 'Forbidden',
  FieldValueTooLong: 'Too long',
  FieldValueTooMany: 'Too many',
  FieldValueDuplicate: 'Duplicate value',
  FieldValueTypeInvalid: 'Invalid value',
};

function fieldErrorMessage(e: FieldError): string {
  const words = typeWords[e.type];
  const withValue =
    e.value !== undefined &&
    (e.type === 'FieldValueInvalid' ||
      e.type === 'FieldValueNotSupported' ||
      e.type === 'FieldValueTypeInvalid' ||
      e.type === 'FieldValueDuplicate')
      ? `${words}: ${JSON.stringify(e.value)}`
      : words;
  return e.detail ? `${withValue}: ${e.detail}` : withValue;
}

export function invalid(s: Subject, errors: FieldError[]): ApiError {
  const parts = errors.map((e) => `${e.field}: ${fieldErrorMessage(e)}`);
  const summary = parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`;
  return new ApiError(422, 'Invalid', `${s.kind}${s.group ? `.${s.group}` : ''} "${s.name}" is invalid: ${summary}`, {
    name: s.name,
    group: s.group || undefined,
    kind: s.kind,
    causes: errors.map((e) => ({ reason: e.type, message: fieldErrorMessage(e), field: e.field })),
  });
}

// Issue 9: shell metacharacters, newlines, path tricks and oversized values in every string field a TraceJob author
// controls. Each one is refused with the field named, except in the fields that are free text by design and never
// reach a shell or a path (a bpftrace program, a regular expression, a comm or exe compared as data), which still
// refuse control characters where they make no sense.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { traceJobCrd } from '../../src/api/crd.ts';
import { regexProblem } from '../../src/api/regex.ts';
import { validateTraceJob } from '../../src/api/tracejob.ts';
import { traceCrdValidator } from './crd-fixtures.ts';

type Schema = {
  type?: string;
  enum?: unknown[];
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema;
};

const HOSTILE = [
  'a;reboot',
  'a\nb',
  '$(id)',
  '`id`',
  'a|b',
  'a&&b',
  'a>b',
  "a'b",
  'a b',
  '../../etc/passwd',
  '-rf',
  '\u0000',
  'x'.repeat(70000),
];

/** A valid value for each string field, proving the field accepts something before it refuses the hostile ones. */
const VALID: Record<string, string> = {
  'spec.target.pod': 'web-0',
  'spec.target.selector.matchLabels.*': 'web',
  'spec.target.selector.matchExpressions[].key': 'app.kubernetes.io/name',
  'spec.target.selector.matchExpressions[].values[]': 'web',
  'spec.target.container': 'app',
  'spec.target.process.comm': 'node',
  'spec.target.process.exe': '/usr/bin/node',
  'spec.target.process.cmdline': 'server\\.js',
  'spec.tracer.perf.events[]': 'sched:sched_switch',
  'spec.tracer.bpftrace.program': 'BEGIN { exit(); }',
  'spec.tracer.bpftrace.programFrom.configMapKeyRef.name': 'programs',
  'spec.tracer.bpftrace.programFrom.configMapKeyRef.key': 'latency.bt',
  'spec.tracer.tool.args[]': '--user-threads-only',
  'spec.tracer.strace.syscalls[]': 'openat',
  'spec.tracer.ftrace.functions[]': 'vfs_*',
  'spec.tracer.gdb.interval': '500ms',
  'spec.duration': '45s',
  'spec.storage': 'archive',
};

/** Free text by design: which hostile values each may hold. */
const FREE_TEXT: Record<string, (value: string) => boolean> = {
  'spec.tracer.bpftrace.program': (v) => v.length <= 16384,
  'spec.target.process.cmdline': (v) => regexProblem(v) === undefined,
  'spec.target.process.comm': (v) => v.length <= 15 && !/[\p{Cc}/]/u.test(v),
  'spec.target.process.exe': (v) => v.startsWith('/') && !/\p{Cc}/u.test(v),
  // A key looked up in the ConfigMap's data; "-rf" is a valid one.
  'spec.tracer.bpftrace.programFrom.configMapKeyRef.key': (v) => v === '-rf',
};

function stringFields(schema: Schema, path: string): string[] {
  if (schema.type === 'string') return schema.enum ? [] : [path];
  if (schema.type === 'array' && schema.items) return stringFields(schema.items, `${path}[]`);
  const fields = Object.entries(schema.properties ?? {}).flatMap(([name, sub]) => stringFields(sub, `${path}.${name}`));
  if (schema.additionalProperties) fields.push(...stringFields(schema.additionalProperties, `${path}.*`));
  return fields;
}

/** A valid TraceJob whose field at `path` holds `value`. */
function jobWith(path: string, value: string): Record<string, unknown> {
  const spec: Record<string, unknown> = { target: { pod: 'web-0' }, tracer: { type: 'profile' } };
  const type = /^spec\.tracer\.(\w+)\./.exec(path)?.[1];
  if (type === 'bpftrace') {
    const from = { configMapKeyRef: { name: 'programs', key: 'latency.bt' } };
    spec.tracer = { type, bpftrace: path.includes('programFrom') ? { programFrom: from } : {} };
  } else if (type === 'tool') spec.tracer = { type, tool: { name: 'offcputime' } };
  else if (type) spec.tracer = { type, [type]: {} };
  if (path.startsWith('spec.target.selector')) spec.target = { selector: {} };
  if (path.startsWith('spec.target.process')) spec.target = { pod: 'web-0', process: {} };
  const job = { apiVersion: 'tracejob.dev/v1alpha1', kind: 'TraceJob', metadata: { name: 'h', namespace: 'a' }, spec };
  const parts = path.replace(/\[\]/g, '.[]').split('.').slice(1);
  let node: Record<string, unknown> | unknown[] = spec;
  parts.forEach((part, i) => {
    const last = i === parts.length - 1;
    const next = parts[i + 1];
    const fresh = next === '[]' ? [] : {};
    if (part === '[]') {
      const list = node as unknown[];
      if (last) list.push(value);
      else
        list.push(
          part === '[]' && path.includes('matchExpressions[]') && list.length === 0
            ? { key: 'app', operator: 'In', values: ['web'] }
            : fresh,
        );
      node = list.at(-1) as Record<string, unknown>;
      return;
    }
    const object = node as Record<string, unknown>;
    const key = part === '*' ? 'app' : part;
    if (last) object[key] = value;
    else {
      object[key] ??= fresh;
      if (next === '[]' && Array.isArray(object[key]) && part === 'values') (object[key] as unknown[]).length = 0;
      node = object[key] as Record<string, unknown>;
    }
  });
  return job;
}

test('every string field refuses hostile values, naming the field', () => {
  const spec = (traceJobCrd().spec as { versions: { schema: { openAPIV3Schema: Schema } }[] }).versions[0]!.schema
    .openAPIV3Schema.properties!.spec!;
  const fields = stringFields(spec, 'spec');
  assert.deepEqual([...fields].sort(), Object.keys(VALID).sort(), 'every string field has a valid value in the table');
  const validateCrd = traceCrdValidator();
  let tried = 0;
  let refused = 0;
  let refusedAtAdmission = 0;
  const admittedByCrd = new Set<string>();
  for (const field of fields) {
    const valid = validateTraceJob(jobWith(field, VALID[field]!));
    assert.ok(valid.ok, `${field} = ${VALID[field]}: ${JSON.stringify(!valid.ok && valid.errors)}`);
    assert.deepEqual(validateCrd(jobWith(field, VALID[field]!)), [], field);
    for (const hostile of HOSTILE) {
      tried++;
      const result = validateTraceJob(jobWith(field, hostile));
      const tolerated = FREE_TEXT[field]?.(hostile) ?? false;
      if (tolerated) {
        assert.ok(result.ok, `${field} = ${JSON.stringify(hostile.slice(0, 20))} refused though free text`);
        continue;
      }
      assert.ok(!result.ok, `${field} = ${JSON.stringify(hostile.slice(0, 20))} accepted`);
      const prefix = field.replace(/\[\]/g, '').replace(/\.\*$/, '');
      assert.ok(
        result.errors.some((e) => e.field.replace(/\[\d+\]/g, '').startsWith(prefix)),
        `${field}: ${JSON.stringify(result.errors).slice(0, 300)}`,
      );
      refused++;
      if (validateCrd(jobWith(field, hostile)).length > 0) refusedAtAdmission++;
      else admittedByCrd.add(`${field}=${JSON.stringify(hostile.slice(0, 12))}`);
    }
  }
  console.log(
    `hostile string values: ${tried} tried over ${fields.length} fields; ${refused} refused by validateTraceJob ` +
      `(the rest sit in free-text fields), ${refusedAtAdmission} of them already by the CRD at admission`,
  );
  // The tool allow-list is checked by the operator only; everything else is already refused at admission.
  for (const admitted of admittedByCrd) assert.match(admitted, /^spec\.tracer\.tool\.args\[\]=/);
});

test('hostile label keys in a selector are refused', () => {
  for (const key of ['a;b', 'a\nb', '$(id)', '/app', 'a/b/c', 'x'.repeat(400)]) {
    const job = jobWith('spec.target.selector.matchLabels.*', 'web');
    (job.spec as { target: { selector: { matchLabels: Record<string, string> } } }).target.selector.matchLabels = {
      [key]: 'web',
    };
    const result = validateTraceJob(job);
    assert.ok(!result.ok, JSON.stringify(key));
    assert.ok(result.errors.some((e) => e.field.startsWith('spec.target.selector.matchLabels')));
  }
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defaultOutputs, parseDuration, validateTraceJob, validateTraceJobSpec } from '../../src/api/tracejob.ts';
import { traceCrdValidator } from './crd-fixtures.ts';
import { exampleObjects, traceJob } from './examples.ts';
import { invalid } from './invalid-tracejobs.ts';

describe('examples', () => {
  const examples = exampleObjects().filter(({ obj }) => obj.kind === 'TraceJob');
  const validateCrd = traceCrdValidator();

  test('cover every tracer type and both target kinds', () => {
    const types = new Set(examples.map(({ obj }) => (obj.spec as { tracer: { type: string } }).tracer.type));
    assert.deepEqual([...types].sort(), ['bpftrace', 'ftrace', 'gdb', 'perf', 'profile', 'strace', 'tool']);
    assert.ok(examples.some(({ obj }) => (obj.spec as { target: { selector?: unknown } }).target.selector));
    assert.ok(examples.length >= 11);
  });

  for (const { file, obj } of examples) {
    test(`${file} is valid by the schema and by the CRD`, () => {
      const result = validateTraceJob(obj);
      assert.ok(result.ok, `${file}: ${JSON.stringify(!result.ok && result.errors)}`);
      assert.deepEqual(validateCrd(obj), [], file);
    });
  }
});

describe('validateTraceJob', () => {
  test('fills defaults: duration, maxTargets, the option block of the type, outputs by tracer', () => {
    const result = validateTraceJob(traceJob());
    assert.ok(result.ok);
    const { spec } = result.value;
    assert.equal(spec.duration, '30s');
    assert.equal(spec.target.maxTargets, 10);
    assert.deepEqual(spec.tracer.profile, { frequency: 99, engine: 'auto', kernelStacks: true });
    assert.deepEqual(spec.outputs, ['flamegraph', 'folded', 'summary']);

    const strace = validateTraceJob(traceJob({ tracer: { type: 'strace' } }));
    assert.ok(strace.ok);
    assert.deepEqual(strace.value.spec.tracer.strace, { mode: 'summary', maxOutputBytes: 10485760 });
    assert.deepEqual(strace.value.spec.outputs, ['summary', 'raw']);
  });

  test('does not alter its input', () => {
    const input = traceJob();
    const before = structuredClone(input);
    validateTraceJob(input);
    assert.deepEqual(input, before);
  });

  test('default outputs follow what the tracer produces', () => {
    assert.deepEqual(defaultOutputs({ type: 'perf', perf: { mode: 'stat' } as never }), ['summary', 'raw']);
    assert.deepEqual(defaultOutputs({ type: 'tool', tool: { name: 'offcputime' } }), [
      'flamegraph',
      'folded',
      'summary',
    ]);
    assert.deepEqual(defaultOutputs({ type: 'tool', tool: { name: 'execsnoop' } }), ['raw']);
    assert.deepEqual(defaultOutputs({ type: 'bpftrace' }), ['raw']);
    assert.deepEqual(defaultOutputs({ type: 'gdb' }), ['flamegraph', 'folded', 'summary']);
  });

  test('validateTraceJobSpec reports fields relative to the spec', () => {
    const result = validateTraceJobSpec({ target: { pod: 'a' }, tracer: { type: 'perf', perf: { frequency: 0 } } });
    assert.ok(!result.ok);
    assert.deepEqual(
      result.errors.map((e) => e.field),
      ['tracer.perf.frequency'],
    );
  });
});

describe('invalid TraceJobs are refused with the field named', () => {
  const validateCrd = traceCrdValidator();
  for (const { name, obj, field, says, crd } of invalid) {
    test(name, () => {
      const result = validateTraceJob(obj);
      assert.ok(!result.ok, 'validateTraceJob accepted it');
      const error = result.errors.find((e) => e.field === field);
      assert.ok(error, `no error names ${field}: ${JSON.stringify(result.errors)}`);
      assert.match(error.message, says);
      if (crd) assert.notDeepEqual(validateCrd(obj), [], 'the CRD accepted it');
    });
  }
});

test('spec is immutable under the CRD', () => {
  const validateCrd = traceCrdValidator();
  const old = traceJob();
  assert.deepEqual(validateCrd(old, old), []);
  const changed = traceJob({ duration: '1m' });
  assert.deepEqual(
    validateCrd(changed, old).map((v) => v.message),
    ['spec is immutable; delete the TraceJob and create a new one'],
  );
});

test('parseDuration', () => {
  assert.equal(parseDuration('30s'), 30);
  assert.equal(parseDuration('1m30s'), 90);
  assert.equal(parseDuration('1h'), 3600);
  assert.equal(parseDuration('250ms'), 0.25);
  assert.throws(() => parseDuration('1d'), /accepted/);
  assert.throws(() => parseDuration(''), /accepted/);
});

test('field errors and cross-field errors are reported together', () => {
  const result = validateTraceJob(
    traceJob({
      target: { pod: 'a', selector: { matchLabels: { app: 'a' } } },
      tracer: { type: 'perf', perf: { frequency: 5000 }, gdb: {} },
      duration: '2h',
    }),
  );
  assert.ok(!result.ok);
  assert.deepEqual(result.errors.map((e) => e.field).sort(), [
    'spec.duration',
    'spec.target',
    'spec.tracer.gdb',
    'spec.tracer.perf.frequency',
  ]);
});

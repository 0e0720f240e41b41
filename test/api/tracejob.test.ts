import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  MAX_PROGRAM_BYTES,
  defaultOutputs,
  parseDuration,
  validateTraceJob,
  validateTraceJobSpec,
} from '../../src/api/tracejob.ts';
import { traceCrdValidator } from './crd-fixtures.ts';
import { exampleObjects, traceJob } from './examples.ts';

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

/**
 * Each case: a mistake, the field the error must name, a phrase of what is accepted, and whether the CRD (OpenAPI
 * schema + CEL) refuses it at admission too. The ones with crd: false are refused by the controller only.
 */
const invalid: { name: string; obj: unknown; field: string; says: RegExp; crd: boolean }[] = [
  {
    name: 'both pod and selector',
    obj: traceJob({ target: { pod: 'a', selector: { matchLabels: { app: 'a' } } } }),
    field: 'spec.target',
    says: /exactly one of pod and selector/,
    crd: true,
  },
  {
    name: 'neither pod nor selector',
    obj: traceJob({ target: { container: 'app' } }),
    field: 'spec.target',
    says: /exactly one of pod and selector/,
    crd: true,
  },
  {
    name: 'an empty selector, which would match every pod',
    obj: traceJob({ target: { selector: {} } }),
    field: 'spec.target.selector',
    says: /match every pod/,
    crd: true,
  },
  {
    name: 'In without values',
    obj: traceJob({ target: { selector: { matchExpressions: [{ key: 'app', operator: 'In' }] } } }),
    field: 'spec.target.selector.matchExpressions[0].values',
    says: /needs at least one value/,
    crd: true,
  },
  {
    name: 'a pod name with shell metacharacters',
    obj: traceJob({ target: { pod: 'web-0; rm -rf /' } }),
    field: 'spec.target.pod',
    says: /accepted: a pod name/,
    crd: true,
  },
  {
    name: 'an unknown tracer type',
    obj: traceJob({ tracer: { type: 'dtrace' } }),
    field: 'spec.tracer.type',
    says: /accepted: profile, perf, bpftrace, tool, strace, ftrace, gdb/,
    crd: true,
  },
  {
    name: 'a sampling frequency out of range',
    obj: traceJob({ tracer: { type: 'perf', perf: { frequency: 5000 } } }),
    field: 'spec.tracer.perf.frequency',
    says: /accepted: 1\.\.1000/,
    crd: true,
  },
  {
    name: 'an option block of another tracer type',
    obj: traceJob({ tracer: { type: 'profile', perf: { frequency: 99 } } }),
    field: 'spec.tracer.perf',
    says: /only allowed when spec.tracer.type is perf/,
    crd: true,
  },
  {
    name: 'a duration over an hour',
    obj: traceJob({ duration: '2h' }),
    field: 'spec.duration',
    says: /accepted: 1s\.\.1h/,
    crd: true,
  },
  {
    name: 'a duration under a second',
    obj: traceJob({ duration: '500ms' }),
    field: 'spec.duration',
    says: /accepted: 1s\.\.1h/,
    crd: true,
  },
  {
    name: 'a duration that is not one',
    obj: traceJob({ duration: '30 seconds' }),
    field: 'spec.duration',
    says: /not a duration/,
    crd: true,
  },
  {
    name: 'bpftrace with two program sources',
    obj: traceJob({ tracer: { type: 'bpftrace', bpftrace: { program: 'BEGIN { exit(); }', script: 'tcplife' } } }),
    field: 'spec.tracer.bpftrace',
    says: /exactly one of program, programFrom and script/,
    crd: true,
  },
  {
    name: 'bpftrace without a program',
    obj: traceJob({ tracer: { type: 'bpftrace', bpftrace: {} } }),
    field: 'spec.tracer.bpftrace',
    says: /exactly one of program, programFrom and script/,
    crd: true,
  },
  {
    name: 'a huge bpftrace program',
    obj: traceJob({ tracer: { type: 'bpftrace', bpftrace: { program: 'x'.repeat(MAX_PROGRAM_BYTES + 1) } } }),
    field: 'spec.tracer.bpftrace.program',
    says: /at most 16384 characters/,
    crd: true,
  },
  {
    name: 'a bpftrace script that is not bundled',
    obj: traceJob({ tracer: { type: 'bpftrace', bpftrace: { script: '../../bin/sh' } } }),
    field: 'spec.tracer.bpftrace.script',
    says: /accepted: biolatency/,
    crd: true,
  },
  {
    name: 'a tool that is not allow-listed',
    obj: traceJob({ tracer: { type: 'tool', tool: { name: 'bashreadline' } } }),
    field: 'spec.tracer.tool.name',
    says: /accepted: offcputime/,
    crd: true,
  },
  {
    name: 'a tool option the runner owns',
    obj: traceJob({ tracer: { type: 'tool', tool: { name: 'offcputime', args: ['--pid', '1'] } } }),
    field: 'spec.tracer.tool.args[0]',
    says: /not allowed; accepted for offcputime/,
    crd: false,
  },
  {
    name: 'a tool option value with shell metacharacters',
    obj: traceJob({ tracer: { type: 'tool', tool: { name: 'offcputime', args: ['--min-block-time=1;reboot'] } } }),
    field: 'spec.tracer.tool.args[0]',
    says: /accepted: a non-negative integer/,
    crd: false,
  },
  {
    name: 'a command-line pattern with a backreference',
    obj: traceJob({ target: { pod: 'a', process: { cmdline: '(a+)\\1' } } }),
    field: 'spec.target.process.cmdline',
    says: /RE2 syntax/,
    crd: false,
  },
  {
    name: 'an empty process filter',
    obj: traceJob({ target: { pod: 'a', process: {} } }),
    field: 'spec.target.process',
    says: /at least one of pid, comm, exe, cmdline/,
    crd: true,
  },
  {
    name: 'a comm longer than the kernel keeps',
    obj: traceJob({ target: { pod: 'a', process: { comm: 'a-very-long-process-name' } } }),
    field: 'spec.target.process.comm',
    says: /1\.\.15 characters/,
    crd: true,
  },
  {
    name: 'a relative executable path',
    obj: traceJob({ target: { pod: 'a', process: { exe: 'bin/node' } } }),
    field: 'spec.target.process.exe',
    says: /absolute path/,
    crd: true,
  },
  {
    name: 'a newline in a strace syscall name',
    obj: traceJob({ tracer: { type: 'strace', strace: { syscalls: ['read\nwrite'] } } }),
    field: 'spec.tracer.strace.syscalls[0]',
    says: /system call name/,
    crd: true,
  },
  {
    name: 'a flame graph from strace',
    obj: traceJob({ tracer: { type: 'strace' }, outputs: ['flamegraph'] }),
    field: 'spec.outputs[0]',
    says: /accepted: summary, raw/,
    crd: true,
  },
  {
    name: 'an output listed twice',
    obj: traceJob({ outputs: ['folded', 'folded'] }),
    field: 'spec.outputs[1]',
    says: /listed twice/,
    crd: true,
  },
  {
    name: 'a call graph for perf stat',
    obj: traceJob({ tracer: { type: 'perf', perf: { mode: 'stat', callGraph: 'dwarf' } } }),
    field: 'spec.tracer.perf.callGraph',
    says: /only applies to mode record/,
    crd: true,
  },
  {
    name: 'maxTargets of zero',
    obj: traceJob({ target: { selector: { matchLabels: { app: 'a' } }, maxTargets: 0 } }),
    field: 'spec.target.maxTargets',
    says: /accepted: 1\.\.100/,
    crd: true,
  },
  {
    name: 'a gdb interval too short',
    obj: traceJob({ tracer: { type: 'gdb', gdb: { samples: 5, interval: '1ms' } } }),
    field: 'spec.tracer.gdb.interval',
    says: /accepted: 10ms\.\.1m/,
    crd: true,
  },
  {
    name: 'a field the API does not have (an image, say)',
    obj: traceJob({ image: 'evil/image' }),
    field: 'spec.image',
    says: /unknown field; accepted: target, tracer/,
    crd: false,
  },
  {
    name: 'a name that would overflow a label value',
    obj: traceJob({}, 'n'.repeat(64)),
    field: 'metadata.name',
    says: /at most 63 characters/,
    crd: true,
  },
  {
    name: 'a negative TTL',
    obj: traceJob({ ttlSecondsAfterFinished: -1 }),
    field: 'spec.ttlSecondsAfterFinished',
    says: /accepted: 0\.\.2592000/,
    crd: true,
  },
];

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

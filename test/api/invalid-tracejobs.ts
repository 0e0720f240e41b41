import { MAX_PROGRAM_BYTES } from '../../src/api/tracejob.ts';
import { traceJob } from './examples.ts';

/**
 * Each case: a mistake, the field the error must name, a phrase of what is accepted, and whether the CRD (OpenAPI
 * schema + CEL) refuses it at admission too. The ones with crd: false are refused by the controller only.
 */
export const invalid: {
  name: string;
  obj: unknown;
  field: string;
  says: RegExp;
  crd: boolean;
  /** Refused by kubectl's default strict field validation, though the schema alone would prune it. */
  strictFieldValidation?: boolean;
}[] = [
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
    says: /accepted: an option or value made of letters, digits/,
    crd: true,
  },
  {
    name: 'a tool option value that is not a number',
    obj: traceJob({ tracer: { type: 'tool', tool: { name: 'offcputime', args: ['--min-block-time=-1'] } } }),
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
    strictFieldValidation: true,
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

import {
  BpftraceOptionsSchema,
  FtraceOptionsSchema,
  GdbOptionsSchema,
  PerfOptionsSchema,
  ProfileOptionsSchema,
  StraceOptionsSchema,
  type TracerSpec,
} from '../../api/tracejob.ts';
import { RunnerError } from '../errors.ts';
import { accessible, findBinary, type KernelPaths } from '../prereq.ts';
import { bpftraceProfile, bpftraceProgram } from './bpftrace.ts';
import { ftrace } from './ftrace.ts';
import { gdb } from './gdb.ts';
import { perfRecord, perfStat } from './perf.ts';
import { strace } from './strace.ts';
import { tool } from './tool.ts';
import type { TracerAdapter } from './types.ts';

export type { TracerAdapter, TracerContext, TracerOutcome, StackFormat, OutputFile } from './types.ts';

/**
 * The adapter for a tracer spec, option defaults applied. `wholeContainer` (no process filter) lets cgroup-based
 * filters cover processes the container starts during the trace.
 */
export async function adapterFor(
  spec: TracerSpec,
  options: { wholeContainer: boolean; kernel?: KernelPaths },
): Promise<TracerAdapter> {
  switch (spec.type) {
    case 'profile': {
      const profile = spec.profile ?? ProfileOptionsSchema.parse({});
      const perf = perfRecord(
        PerfOptionsSchema.parse({ mode: 'record', frequency: profile.frequency, kernelStacks: profile.kernelStacks }),
        options.wholeContainer,
      );
      if (profile.engine === 'perf') return perf;
      const bpftrace = bpftraceProfile(profile, options.wholeContainer);
      if (profile.engine === 'bpftrace') return bpftrace;
      const [hasBpftrace, hasPerf] = await Promise.all([
        findBinary('bpftrace', options.kernel ?? {}),
        findBinary('perf', options.kernel ?? {}),
      ]);
      if (!hasBpftrace) return perf;
      return hasPerf ? autoProfile(bpftrace, perf, hasPerf) : bpftrace;
    }
    case 'perf': {
      const perf = spec.perf ?? PerfOptionsSchema.parse({});
      return perf.mode === 'stat' ? perfStat(perf) : perfRecord(perf, options.wholeContainer);
    }
    case 'bpftrace':
      if (!spec.bpftrace) throw new RunnerError('InvalidPlan', 'tracer.bpftrace: required for type bpftrace');
      return bpftraceProgram(BpftraceOptionsSchema.parse(spec.bpftrace));
    case 'tool':
      if (!spec.tool) throw new RunnerError('InvalidPlan', 'tracer.tool: required for type tool');
      return tool(spec.tool);
    case 'strace':
      return strace(spec.strace ?? StraceOptionsSchema.parse({}));
    case 'ftrace':
      return ftrace(spec.ftrace ?? FtraceOptionsSchema.parse({}));
    case 'gdb':
      return gdb(spec.gdb ?? GdbOptionsSchema.parse({}));
  }
}

/**
 * engine auto: bpftrace's in-kernel aggregation, except for JIT-compiled targets (a /tmp/perf-PID.map exists), where
 * bpftrace's symbolizer takes longer to print a map of deep JIT stacks than any grace period allows and perf, which
 * symbolizes after recording, is the one that works.
 */
function autoProfile(bpftrace: TracerAdapter, perf: TracerAdapter, perfPath: string): TracerAdapter {
  return {
    name: bpftrace.name,
    requirements: bpftrace.requirements,
    async run(ctx) {
      const jit = await Promise.all(
        ctx.processes.map((p) => accessible(`/proc/${p.pid}/root/tmp/perf-${p.nsPid}.map`)),
      );
      if (!jit.includes(true)) return bpftrace.run(ctx);
      const outcome = await perf.run({ ...ctx, binaries: { ...ctx.binaries, perf: perfPath } });
      return {
        ...outcome,
        notes: ['the target has JIT symbol maps, so perf profiled it instead of bpftrace', ...outcome.notes],
      };
    },
  };
}

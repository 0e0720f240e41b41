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
import { findBinary, type KernelPaths } from '../prereq.ts';
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
      const engine =
        profile.engine !== 'auto'
          ? profile.engine
          : (await findBinary('bpftrace', options.kernel ?? {}))
            ? 'bpftrace'
            : 'perf';
      if (engine === 'bpftrace') return bpftraceProfile(profile, options.wholeContainer);
      return perfRecord(
        PerfOptionsSchema.parse({ mode: 'record', frequency: profile.frequency, kernelStacks: profile.kernelStacks }),
      );
    }
    case 'perf': {
      const perf = spec.perf ?? PerfOptionsSchema.parse({});
      return perf.mode === 'stat' ? perfStat(perf) : perfRecord(perf);
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

import { join } from 'node:path';
import type { ToolOptions } from '../../api/tracejob.ts';
import { TOOLS, parseToolArgs } from '../../api/tools.ts';
import { RunnerError } from '../errors.ts';
import { symbolizeOffcputime } from '../offcputime.ts';
import { UserSymbolizer } from '../usersyms.ts';
import { supervise } from '../supervise.ts';
import { checkRun } from './outcome.ts';
import type { TracerAdapter, TracerContext, TracerOutcome } from './types.ts';

/**
 * The option that confines the tool: the container's v2 cgroup for tools that filter by cgroup (every process of the
 * container, including new ones), otherwise the first target PID (libbpf-tools take a single PID).
 */
function toolTargetArgs(name: keyof typeof TOOLS, ctx: Pick<TracerContext, 'processes' | 'cgroupV2Dir'>): string[] {
  if (TOOLS[name].target === 'cgroup' && ctx.cgroupV2Dir !== undefined) return [`--cgroup=${ctx.cgroupV2Dir}`];
  return [`--pid=${ctx.processes[0]!.pid}`];
}

/** A libbpf-tools program by name, with its allow-listed options; SIGINT at the deadline makes it print its report. */
export function tool(options: ToolOptions): TracerAdapter {
  const info = TOOLS[options.name];
  return {
    name: options.name,
    requirements: () => ({
      binaries: [{ name: options.name, package: 'libbpf-tools' }],
      btf: true,
      perfEvents: true,
      privileges: ['bpf'],
      kernelSymbols: info.kernelStacks,
    }),
    async run(ctx: TracerContext): Promise<TracerOutcome> {
      const parsed = parseToolArgs(options.name, options.args ?? []);
      if (!parsed.ok) throw new RunnerError('InvalidPlan', `tracer.tool.args[${parsed.index}]: ${parsed.message}`);
      const outputPath = join(ctx.workDir, `${options.name}.txt`);
      // offcputime names user frames from the paths in /proc/PID/maps as its own mount namespace sees them, which
      // misses a container's files: with -v it prints every address, and we name the frames from the target's files.
      const ownSymbols = options.name === 'offcputime';
      const rawPath = ownSymbols ? join(ctx.workDir, 'offcputime.addresses.txt') : outputPath;
      const targetArgs = toolTargetArgs(options.name, ctx);
      const notes: string[] = [];
      if (targetArgs[0]!.startsWith('--pid=') && ctx.processes.length > 1) {
        notes.push(
          `${options.name} takes one PID: traced PID ${ctx.processes[0]!.pid} of ${ctx.processes.length} (narrow with a process filter)`,
        );
      }
      const result = await supervise({
        argv: [ctx.binaries[options.name]!, ...targetArgs, ...parsed.argv, ...(ownSymbols ? ['-v'] : [])],
        durationMs: ctx.durationMs,
        graceMs: ctx.graceMs,
        cwd: ctx.workDir,
        stdoutPath: rawPath,
        maxStdoutBytes: 64 << 20,
        stderrPath: join(ctx.workDir, `${options.name}.log`),
        maxStderrBytes: 1 << 20,
        signal: ctx.signal,
      });
      notes.push(...checkRun(options.name, result));
      if (ownSymbols) {
        const recovered = await symbolizeOffcputime(rawPath, outputPath, new UserSymbolizer());
        if (recovered > 0) notes.push(`named ${recovered} user frame(s) from the container's own files`);
      }
      return {
        files: [{ name: `${options.name}.txt`, path: outputPath, format: 'raw' }],
        ...(info.output === 'stacks' ? { stacks: { format: 'offcputime' as const, path: outputPath } } : {}),
        notes,
        stoppedBy: result.stoppedBy,
      };
    },
  };
}

import type { OutputFormat } from '../../api/tracejob.ts';
import type { Logger } from '../../log.ts';
import type { Requirements } from '../prereq.ts';
import type { TargetProcess } from '../resolve.ts';
import type { StopReason } from '../supervise.ts';

/** What every tracer adapter gets: the selected processes, a private work directory, and the time box. */
export interface TracerContext {
  workDir: string;
  processes: TargetProcess[];
  /** The container's v2 cgroup directory and id, when it has one (cgroup filters then cover new processes too). */
  cgroupV2Dir?: string;
  cgroupV2Path?: string;
  cgroupId?: number;
  durationMs: number;
  graceMs: number;
  /** Absolute paths of the binaries checked by `checkPrerequisites`. */
  binaries: Record<string, string>;
  /** Mount point of tracefs, for tracers that require it. */
  tracefs?: string;
  signal?: AbortSignal;
  logger: Logger;
}

/** Stack text formats the profile pipeline folds. */
export type StackFormat = 'perf-script' | 'bpftrace' | 'gdb' | 'offcputime';

export interface OutputFile {
  /** File name in the work directory and, later, the artifact name. */
  name: string;
  path: string;
  format: OutputFormat;
}

export interface TracerOutcome {
  files: OutputFile[];
  /** Stack output for the profile pipeline (one of `files`, or an intermediate). */
  stacks?: { format: StackFormat; path: string };
  /** Things the user should know (output truncated, target exited early, PIDs left out). */
  notes: string[];
  stoppedBy: StopReason;
}

export interface TracerAdapter {
  /** Name for messages and the manifest (`perf record`, `bpftrace profile`, `offcputime`...). */
  readonly name: string;
  requirements(): Requirements;
  run(ctx: TracerContext): Promise<TracerOutcome>;
}

/**
 * The profile pipeline: stack text from perf, bpftrace, libbpf-tools and gdb, folded to `stack count` lines, drawn as
 * flame graphs, converted to speedscope and pprof, and summarised for the TraceJob status. Every reader streams its
 * input (plain or gzip) and holds only the unique stacks.
 */
export { ProfileInputError, lineBatches, lineChunks, type ByteSource } from './input.ts';
export {
  addStack,
  mergeStacks,
  totalSamples,
  sortedStackEntries,
  compareBytes,
  type Stacks,
  type CollapseResult,
} from './stacks.ts';
export {
  collapsePerfScript,
  PerfScriptCollapser,
  type PerfCollapseOptions,
  type PerfCollapseResult,
} from './collapse-perf.ts';
export { collapseBpftrace, BpftraceCollapser, type BpftraceCollapseOptions } from './collapse-bpftrace.ts';
export { collapseLibbpfTools, LibbpfCollapser, type LibbpfCollapseOptions } from './collapse-libbpf.ts';
export { collapseGdb, GdbCollapser, type GdbCollapseOptions } from './collapse-gdb.ts';
export { readFolded, writeFolded, foldedText, diffFoldedText, type FoldedReadResult } from './folded.ts';
export {
  renderFlameGraph,
  renderDiffFlameGraph,
  type FlameGraphOptions,
  type DiffFlameGraphOptions,
} from './flamegraph.ts';
export { paletteNames, isPalette, type Palette } from './palette.ts';
export { toSpeedscope, type SpeedscopeFile, type SpeedscopeOptions } from './speedscope.ts';
export { toPprof, type PprofOptions } from './pprof.ts';
export { summarize, type ProfileSummary, type TopFrame, type SummaryOptions } from './summary.ts';

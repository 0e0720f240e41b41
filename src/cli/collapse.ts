import { Command } from 'commander';
import {
  collapseBpftrace,
  collapseGdb,
  collapseLibbpfTools,
  collapsePerfScript,
  writeFolded,
  type CollapseResult,
  type PerfCollapseOptions,
} from '../profile/index.ts';
import { openInput, reportMalformed } from '../profile/cli-support.ts';

/** Commander's names for the perf options are the library's own. */
type PerfFlags = Omit<PerfCollapseOptions, 'signal'>;

async function emit(result: CollapseResult, format: string): Promise<void> {
  await writeFolded(result.stacks, process.stdout);
  reportMalformed(`collapse ${format}`, result.malformedLines, result.malformedExamples);
}

export function command(): Command {
  const collapse = new Command('collapse').description(
    'fold stacks into the folded format (`frame;frame;frame count`, sorted) that flamegraph.pl reads; input may be gzipped',
  );
  collapse
    .command('perf')
    .description('`perf script` output, byte-identical to stackcollapse-perf.pl with the same options')
    .argument('[file]', "perf script output, '-' or none for standard input")
    .option('--pid', 'include the PID with the process name')
    .option('--tid', 'include PID and TID with the process name')
    .option('--kernel', 'annotate kernel frames with _[k]')
    .option('--jit', 'annotate JIT frames (from /tmp/perf-PID.map) with _[j]')
    .option('--all', 'all annotations (--kernel --jit)')
    .option('--addrs', 'include raw addresses where symbols are unknown')
    .option('--event-filter <event>', 'keep only this event (default: the first event seen)')
    .action(async (file: string | undefined, flags: PerfFlags) => {
      const result = await collapsePerfScript(await openInput(file), flags);
      await emit(result, 'perf');
      const skipped = Object.entries(result.skippedEvents);
      if (skipped.length > 0 && !flags.eventFilter) {
        console.error(
          `tracejob collapse perf: kept only ${result.event} samples; skipped ${skipped
            .map(([event, n]) => `${n} ${event}`)
            .join(', ')} (choose with --event-filter)`,
        );
      }
    });
  collapse
    .command('bpftrace')
    .description('bpftrace maps keyed by ustack/kstack (@[ustack] = count()), or lines already folded')
    .argument('[file]', "bpftrace output, '-' or none for standard input")
    .action(async (file: string | undefined) => emit(await collapseBpftrace(await openInput(file)), 'bpftrace'));
  collapse
    .command('libbpf')
    .description('stack reports of libbpf-tools/BCC (offcputime, profile, biostacks), multi-line or folded')
    .argument('[file]', "tool output, '-' or none for standard input")
    .action(async (file: string | undefined) => emit(await collapseLibbpfTools(await openInput(file)), 'libbpf'));
  collapse
    .command('gdb')
    .description('gdb backtraces (`thread apply all bt`, repeated), like stackcollapse-gdb.pl')
    .argument('[file]', "gdb output, '-' or none for standard input")
    .action(async (file: string | undefined) => emit(await collapseGdb(await openInput(file)), 'gdb'));
  return collapse;
}

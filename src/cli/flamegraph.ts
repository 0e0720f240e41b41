import { Command } from 'commander';
import { readFolded, renderDiffFlameGraph, renderFlameGraph } from '../profile/index.ts';
import {
  addFlameGraphOptions,
  flameGraphOptions,
  openInput,
  reportMalformed,
  writeAll,
  type FlameGraphFlags,
} from '../profile/cli-support.ts';

export function command(): Command {
  return addFlameGraphOptions(
    new Command('flamegraph')
      .description(
        'draw an interactive SVG flame graph from folded stacks (two counts per line, as difffolded.pl writes, draw a differential graph)',
      )
      .argument('[file]', "folded stacks, '-' or none for standard input; may be gzipped"),
  )
    .option('--negate', 'differential input: swap the colours (red for less)')
    .action(async (file: string | undefined, flags: FlameGraphFlags & { negate?: boolean }) => {
      const folded = await readFolded(await openInput(file), { keepOrder: Boolean(flags.flamechart) });
      reportMalformed('flamegraph', folded.malformedLines, folded.malformedExamples);
      if (folded.stacks.size === 0) throw new Error('no stacks in the input: expected lines of `frame;frame count`');
      const options = flameGraphOptions(flags);
      const svg = folded.before
        ? renderDiffFlameGraph(folded.before, folded.stacks, { ...options, negate: flags.negate })
        : renderFlameGraph(folded.sequence ?? folded.stacks, options);
      await writeAll(process.stdout, svg);
    });
}

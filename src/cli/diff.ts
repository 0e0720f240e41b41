import { Command } from 'commander';
import { diffFoldedText, readFolded, renderDiffFlameGraph, type Stacks } from '../profile/index.ts';
import {
  addFlameGraphOptions,
  flameGraphOptions,
  openInput,
  reportMalformed,
  writeAll,
  type FlameGraphFlags,
} from '../profile/cli-support.ts';

async function load(file: string): Promise<Stacks> {
  if (file === '-') throw new Error('diff reads two files; standard input cannot be one of them');
  const folded = await readFolded(await openInput(file));
  reportMalformed('diff', folded.malformedLines, folded.malformedExamples);
  return folded.stacks;
}

export function command(): Command {
  return addFlameGraphOptions(
    new Command('diff')
      .description(
        'differential flame graph of two folded profiles: widths from AFTER, red where AFTER has more samples, blue where fewer',
      )
      .argument('<before>', 'folded stacks of the first profile (may be gzipped)')
      .argument('<after>', 'folded stacks of the second profile'),
  )
    .option('--normalize', 'scale BEFORE to the total of AFTER first (different durations or rates)')
    .option('--negate', 'swap the hues (blue for more); `diff AFTER BEFORE --negate` shows what went away')
    .option('--folded', 'print `stack before after` lines (as difffolded.pl) instead of the SVG')
    .action(
      async (
        beforeFile: string,
        afterFile: string,
        flags: FlameGraphFlags & { normalize?: boolean; negate?: boolean; folded?: boolean },
      ) => {
        const before = await load(beforeFile);
        const after = await load(afterFile);
        if (flags.folded) {
          await writeAll(process.stdout, diffFoldedText(before, after, { normalize: flags.normalize }));
          return;
        }
        const svg = renderDiffFlameGraph(before, after, {
          ...flameGraphOptions(flags),
          normalize: flags.normalize,
          negate: flags.negate,
        });
        await writeAll(process.stdout, svg);
      },
    );
}

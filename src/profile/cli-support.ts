import { stat } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { FlameGraphOptions } from './flamegraph.ts';
import { fileChunks, type ByteSource } from './input.ts';
import { isPalette, paletteNames } from './palette.ts';

/** Opens FILE, or standard input for '-' or no argument, failing with the path in the message. */
export async function openInput(file: string | undefined): Promise<ByteSource> {
  if (file === undefined || file === '-') return process.stdin;
  try {
    const info = await stat(file);
    if (info.isDirectory()) throw new Error('it is a directory');
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  return fileChunks(file);
}

export async function writeAll(out: Writable, data: string | Uint8Array): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    out.write(data, (err) => (err ? reject(err) : resolve()));
  });
}

/** Says on stderr how much of the input was not understood, with a few examples; silent when all was. */
export function reportMalformed(command: string, malformedLines: number, examples: string[]): void {
  if (malformedLines === 0) return;
  console.error(`tracejob ${command}: ${malformedLines} line(s) not understood and skipped, e.g.:`);
  for (const example of examples.slice(0, 3)) console.error(`  ${JSON.stringify(example)}`);
}

function positiveNumber(field: string) {
  return (value: string): number => {
    const number = Number(value);
    if (!Number.isFinite(number) || number <= 0) {
      throw new InvalidArgumentError(`--${field} must be a positive number, got ${JSON.stringify(value)}`);
    }
    return number;
  };
}

function nonNegativeNumber(field: string) {
  return (value: string): number => {
    const number = Number(value);
    if (!Number.isFinite(number) || number < 0) {
      throw new InvalidArgumentError(`--${field} must be a number >= 0, got ${JSON.stringify(value)}`);
    }
    return number;
  };
}

/** The drawing options shared by `flamegraph` and `diff`, named as flamegraph.pl names them. */
export function addFlameGraphOptions(command: Command): Command {
  return command
    .option('--title <text>', 'title (default depends on the kind of graph)')
    .option('--subtitle <text>', 'second line under the title')
    .option('--width <px>', 'image width', positiveNumber('width'), 1200)
    .option('--height <px>', 'height of one frame', positiveNumber('height'), 16)
    .option('--fontsize <px>', 'font size', positiveNumber('fontsize'), 12)
    .option('--fonttype <family>', 'font family', 'Verdana, sans-serif')
    .option('--minwidth <px>', 'leave out frames narrower than this', nonNegativeNumber('minwidth'), 0.1)
    .addOption(
      new Option('--colors <palette>', 'colour palette').default('hot').argParser((value: string) => {
        if (!isPalette(value))
          throw new InvalidArgumentError(`--colors must be one of ${paletteNames.join(', ')}; got ${value}`);
        return value;
      }),
    )
    .option('--countname <name>', 'what a count is, in tooltips', 'samples')
    .option('--nametype <label>', 'label before a frame name in the details line', 'Function:')
    .option('--reverse', 'stack-reversed graph: merge callers of each leaf')
    .option('--inverted', 'icicle graph: root at the top')
    .option('--flamechart', "flame chart: keep the input's order instead of sorting frames by name");
}

export interface FlameGraphFlags {
  title?: string;
  subtitle?: string;
  width: number;
  height: number;
  fontsize: number;
  fonttype: string;
  minwidth: number;
  colors: FlameGraphOptions['palette'];
  countname: string;
  nametype: string;
  reverse?: boolean;
  inverted?: boolean;
  flamechart?: boolean;
}

export function flameGraphOptions(flags: FlameGraphFlags): FlameGraphOptions {
  return {
    title: flags.title,
    subtitle: flags.subtitle,
    width: flags.width,
    frameHeight: flags.height,
    fontSize: flags.fontsize,
    fontFamily: flags.fonttype,
    minWidth: flags.minwidth,
    palette: flags.colors,
    countName: flags.countname,
    nameType: flags.nametype,
    reverse: flags.reverse,
    inverted: flags.inverted,
    flameChart: flags.flamechart,
  };
}

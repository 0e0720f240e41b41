import type { Writable } from 'node:stream';
import { lineBatches, type ByteSource } from './input.ts';
import {
  addStack,
  MalformedLines,
  SortedStacks,
  sortedStackEntries,
  type CollapseResult,
  type Stacks,
} from './stacks.ts';

const countAtEnd = /^(.*)\s+?(\d+(?:\.\d*)?)$/s;

export interface FoldedReadResult extends CollapseResult {
  /**
   * Present when the input had two counts per line (`stack before after`, as difffolded.pl writes): `stacks` then
   * holds the second column and `before` the first, and a flame graph of it is differential.
   */
  before?: Stacks;
  /** With `keepOrder`: every line's (stack, count) in input order, unmerged, for flame charts. */
  sequence?: [string, number][];
}

/**
 * Reads the folded format flamegraph.pl reads: `frame;frame;frame count` per line, counts may be fractional, the
 * stack is everything before the last whitespace. Lines in the input's order are kept (flame charts need it).
 */
export async function readFolded(
  source: ByteSource,
  options: { signal?: AbortSignal; keepOrder?: boolean } = {},
): Promise<FoldedReadResult> {
  const sequence: [string, number][] | undefined = options.keepOrder ? [] : undefined;
  const stacks: Stacks = new Map();
  const before: Stacks = new Map();
  const malformed = new MalformedLines();
  let lines = 0;
  let twoColumns = false;
  for await (const batch of lineBatches(source, {
    signal: options.signal,
    onOversizedLine: () => malformed.add('(line longer than the limit)'),
  })) {
    for (const line of batch) {
      lines++;
      if (line === '' || line.startsWith('# ')) continue;
      const match = countAtEnd.exec(line);
      if (!match || match[1] === '') {
        malformed.add(line);
        continue;
      }
      let stack = match[1];
      const count = Number(match[2]);
      // Like flamegraph.pl, a second number before the last one makes the line differential.
      const first = countAtEnd.exec(stack);
      if (first && first[1] !== '') {
        twoColumns = true;
        stack = first[1];
        addStack(before, stack, Number(first[2]));
      }
      addStack(stacks, stack, count);
      sequence?.push([stack, count]);
    }
  }
  return {
    stacks,
    ...(twoColumns ? { before } : {}),
    ...(sequence ? { sequence } : {}),
    lines,
    malformedLines: malformed.count,
    malformedExamples: malformed.examples,
  };
}

export function formatCount(count: number): string {
  return String(count);
}

/** Sorted folded text, as the stackcollapse scripts print it. */
export function foldedText(stacks: Stacks): string {
  const folded = stacks instanceof SortedStacks ? stacks.foldedText() : undefined;
  if (folded !== undefined) return folded.toString('utf8');
  let text = '';
  for (const [stack, count] of sortedStackEntries(stacks)) text += `${stack} ${formatCount(count)}\n`;
  return text;
}

/** Writes sorted folded stacks to a stream, in chunks and honouring backpressure. */
export async function writeFolded(stacks: Stacks, out: Writable): Promise<void> {
  const text = stacks instanceof SortedStacks ? stacks.foldedText() : undefined;
  if (text !== undefined) {
    for (let start = 0; start < text.length; start += 1 << 20) {
      const slice = text.subarray(start, start + (1 << 20));
      if (!out.write(slice)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    }
    return;
  }
  let chunk = '';
  for (const [stack, count] of sortedStackEntries(stacks)) {
    chunk += `${stack} ${formatCount(count)}\n`;
    if (chunk.length >= 1 << 16) {
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      chunk = '';
    }
  }
  if (chunk.length > 0 && !out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
}

/**
 * `stack before after` for every stack in either profile, sorted: what difffolded.pl prints, and what
 * `tracejob flamegraph` draws as a differential graph. `normalize` scales the first column to the second's total.
 */
export function diffFoldedText(before: Stacks, after: Stacks, options: { normalize?: boolean } = {}): string {
  let beforeTotal = 0;
  let afterTotal = 0;
  for (const v of before.values()) beforeTotal += v;
  for (const v of after.values()) afterTotal += v;
  const normalize = options.normalize && beforeTotal > 0 && beforeTotal !== afterTotal;
  const union: Stacks = new Map();
  for (const stack of before.keys()) union.set(stack, 0);
  for (const stack of after.keys()) union.set(stack, 0);
  let text = '';
  for (const [stack] of sortedStackEntries(union)) {
    const first = before.get(stack) ?? 0;
    const scaled = normalize ? scaleCount(first, afterTotal, beforeTotal) : first;
    text += `${stack} ${formatCount(scaled)} ${formatCount(after.get(stack) ?? 0)}\n`;
  }
  return text;
}

/**
 * `int(count * to / from)` as Perl computes it: the product first, exact when the quotient is an integer (Perl
 * divides 64-bit integers exactly then), else in doubles, which round the product exactly as Perl does.
 */
function scaleCount(count: number, to: number, from: number): number {
  if (Number.isInteger(count) && Number.isInteger(to) && Number.isInteger(from)) {
    const product = BigInt(count) * BigInt(to);
    if (product % BigInt(from) === 0n) return Number(product / BigInt(from));
  }
  return Math.trunc((count * to) / from);
}

/**
 * Folded stacks: frames joined root first with ';', mapped to a sample count (or a weight such as a period sum).
 * Insertion order is kept because flame charts need the input's time order; everything else sorts.
 */
import { lineBatches, type ByteSource } from './input.ts';

export type Stacks = Map<string, number>;

/** What every collapser reports besides the stacks, so callers can say how much of the input was understood. */
export interface CollapseResult {
  stacks: Stacks;
  /** Lines read, including comments and blank lines. */
  lines: number;
  /** Lines that matched no known form; the upstream scripts print "Unrecognized line" for these. */
  malformedLines: number;
  /** The first few malformed lines, shortened, to show the user what was not understood. */
  malformedExamples: string[];
}

export function addStack(stacks: Stacks, stack: string, count: number): void {
  stacks.set(stack, (stacks.get(stack) ?? 0) + count);
}

export function mergeStacks(...all: Stacks[]): Stacks {
  const merged: Stacks = new Map();
  for (const stacks of all) for (const [stack, count] of stacks) addStack(merged, stack, count);
  return merged;
}

export function totalSamples(stacks: Stacks): number {
  let total = 0;
  for (const count of stacks.values()) total += count;
  return total;
}

/**
 * Byte order of the UTF-8 encodings, which is what the Perl scripts' `sort { $a cmp $b }` gives. UTF-16 code unit
 * order agrees except where astral characters (surrogates) meet U+E000..U+FFFF, which is handled explicitly.
 */
export function compareBytes(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) return surrogateAware(x) - surrogateAware(y);
    return x - y;
  }
  return a.length - b.length;
}

function surrogateAware(unit: number): number {
  // Surrogates encode code points above U+FFFF, so they sort after the BMP's private-use and specials block.
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  if (unit >= 0xe000) return unit - 0x800;
  return unit;
}

const astralOrPrivate = /[\ud800-\uffff]/;

export function sortedStackEntries(stacks: Stacks): [string, number][] {
  const keys = [...stacks.keys()];
  // The native sort (UTF-16 order) is many times faster than a comparator and agrees with byte order unless a key
  // holds surrogates or U+E000..U+FFFF, which is rare enough to check for first.
  const native = !keys.some((key) => astralOrPrivate.test(key));
  // Collapsers that fold into a tree hand over their stacks sorted already; one pass over neighbours confirms it.
  let sorted = true;
  for (let i = 1; i < keys.length && sorted; i++) {
    sorted = native ? keys[i - 1] < keys[i] : compareBytes(keys[i - 1], keys[i]) < 0;
  }
  if (sorted) return [...stacks];
  if (native) keys.sort();
  else keys.sort(compareBytes);
  return keys.map((key) => [key, stacks.get(key)!]);
}

/**
 * Stacks handed over in byte order together with their folded text (`stack count` lines), as a collapser that
 * folds into a tree writes them out. Writing the text needs neither strings nor hashing; keys are decoded on the
 * first iteration, and the map index (whose hashing of every key, often kilobytes long, costs more than writing
 * them out) is built on the first keyed access.
 */
export class SortedStacks extends Map<string, number> {
  readonly #text: Buffer;
  readonly #keyStarts: number[];
  readonly #keyEnds: number[];
  readonly #counts: number[];
  #keys: string[] | undefined;
  #indexed = false;
  #modified = false;

  /** `text` holds one line per stack; stack i is `text[keyStarts[i], keyEnds[i])`, in UTF-8. */
  constructor(text: Buffer, keyStarts: number[], keyEnds: number[], counts: number[]) {
    super();
    this.#text = text;
    this.#keyStarts = keyStarts;
    this.#keyEnds = keyEnds;
    this.#counts = counts;
  }

  /** The folded text, while no stack was added, changed or removed since. */
  foldedText(): Buffer | undefined {
    return this.#modified ? undefined : this.#text;
  }

  #decoded(): string[] {
    if (this.#keys === undefined) {
      this.#keys = this.#keyStarts.map((start, i) => this.#text.toString('utf8', start, this.#keyEnds[i]));
    }
    return this.#keys;
  }

  #index(): void {
    if (this.#indexed) return;
    this.#indexed = true;
    const keys = this.#decoded();
    for (let i = 0; i < keys.length; i++) super.set(keys[i], this.#counts[i]);
  }

  override get size(): number {
    return this.#indexed ? super.size : this.#counts.length;
  }

  override get(key: string): number | undefined {
    this.#index();
    return super.get(key);
  }

  override has(key: string): boolean {
    this.#index();
    return super.has(key);
  }

  override set(key: string, count: number): this {
    this.#index();
    this.#modified = true;
    return super.set(key, count);
  }

  override delete(key: string): boolean {
    this.#index();
    this.#modified = true;
    return super.delete(key);
  }

  override clear(): void {
    this.#index();
    this.#modified = true;
    super.clear();
  }

  override keys(): MapIterator<string> {
    return this.#indexed ? super.keys() : this.#decoded().values();
  }

  override values(): MapIterator<number> {
    return this.#indexed ? super.values() : this.#counts.values();
  }

  override entries(): MapIterator<[string, number]> {
    if (this.#indexed) return super.entries();
    const counts = this.#counts;
    return this.#decoded()
      .map((key, i): [string, number] => [key, counts[i]])
      .values();
  }

  override [Symbol.iterator](): MapIterator<[string, number]> {
    return this.entries();
  }

  override forEach(callback: (count: number, key: string, map: Map<string, number>) => void, thisArg?: unknown): void {
    for (const [key, count] of this.entries()) callback.call(thisArg, count, key, this);
  }
}

export class MalformedLines {
  count = 0;
  readonly examples: string[] = [];
  add(line: string): void {
    this.count++;
    if (this.examples.length < 5) this.examples.push(line.length > 200 ? `${line.slice(0, 200)}...` : line);
  }
}

/** A collapser that reads one line at a time: the bpftrace, gdb and libbpf-tools formats. */
export interface LineCollapser {
  readonly stacks: Map<string, number>;
  readonly malformed: MalformedLines;
  readonly lines: number;
  line(line: string): void;
  end(): void;
}

/** Feeds every line of `source` to `collapser` and returns what it folded. */
export async function collapseLines(
  source: ByteSource,
  collapser: LineCollapser,
  signal?: AbortSignal,
): Promise<CollapseResult> {
  for await (const batch of lineBatches(source, {
    signal,
    onOversizedLine: () => collapser.malformed.add('(line longer than the limit)'),
  })) {
    for (const line of batch) collapser.line(line);
  }
  collapser.end();
  return {
    stacks: collapser.stacks,
    lines: collapser.lines,
    malformedLines: collapser.malformed.count,
    malformedExamples: collapser.malformed.examples,
  };
}

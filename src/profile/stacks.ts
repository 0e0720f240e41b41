/**
 * Folded stacks: frames joined root first with ';', mapped to a sample count (or a weight such as a period sum).
 * Insertion order is kept because flame charts need the input's time order; everything else sorts.
 */
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
  if (keys.some((key) => astralOrPrivate.test(key))) keys.sort(compareBytes);
  else keys.sort();
  return keys.map((key) => [key, stacks.get(key)!]);
}

export class MalformedLines {
  count = 0;
  readonly examples: string[] = [];
  add(line: string): void {
    this.count++;
    if (this.examples.length < 5) this.examples.push(line.length > 200 ? `${line.slice(0, 200)}...` : line);
  }
}

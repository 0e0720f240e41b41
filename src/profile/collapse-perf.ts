import { formatCount } from './folded.ts';
import { defaultMaxLineLength, lineChunks, type ByteSource } from './input.ts';
import { compareBytes, MalformedLines, SortedStacks, type CollapseResult, type Stacks } from './stacks.ts';

export interface PerfCollapseOptions {
  /** Append the PID to the process name: `comm-PID` (`?` when perf printed only a TID). */
  pid?: boolean;
  /** Append PID and TID: `comm-PID/TID`. */
  tid?: boolean;
  /** Mark kernel frames with `_[k]`. */
  kernel?: boolean;
  /** Mark JIT frames (from a /tmp/perf-PID.map) with `_[j]`. */
  jit?: boolean;
  /** Both `kernel` and `jit`. */
  all?: boolean;
  /** Keep the instruction address of frames whose symbol is unknown: `[module <addr>]`. */
  addrs?: boolean;
  /** Keep only samples of this event; by default, the first event seen (mixing cycles and instructions misleads). */
  eventFilter?: string;
  signal?: AbortSignal;
}

export interface PerfCollapseResult extends CollapseResult {
  /** The event whose samples were kept. */
  event?: string;
  /** Samples dropped because they were of another event, by event name. */
  skippedEvents: Record<string, number>;
}

// Perl's \s, \S, \w and \d on byte strings are ASCII-only; JavaScript's \s also matches NBSP and friends, so the
// whitespace classes are spelled out.
const ws = '[ \\t\\n\\r\\f\\v]';
const notWs = '[^ \\t\\n\\r\\f\\v]';
/** A sample header: `comm [pid/]tid [cpu] time: [period] event:` with many optional parts. */
const headerPattern = new RegExp(`^(${notWs}.+?)${ws}+(\\d+)\\/*(\\d+)*${ws}+`, 's');
const eventPattern = new RegExp(`:${ws}*(\\d+)*${ws}+(${notWs}+):${ws}*$`);
/** A frame: `addr symbol[+off] (module)`. */
const framePattern = new RegExp(`^${ws}*(\\w+)${ws}*(.+) \\((.*)\\)`, 's');
const offsetSuffix = /\+0x[\da-f]+$/;
const goMethod = /\.\(.*\)\./s;
const argumentList = /\((?!anonymous namespace\)).*/s;
const quotes = /["']/g;
const kernelModule = /(^\[|vmlinux$)/;
const jitModule = /\/tmp\/perf-\d+\.map/;
/** Bounds the frame table (its slots are twice as many, so probes stay short). */
const maxCachedFrames = 1 << 17;
/** Frame lines are recognised by a hash of their first bytes: a tab, the address in 16 columns, the symbol's start. */
const hashedPrefix = 32;
const newline = 0x0a;
/** `ids` of a cached line whose frames upstream skips. */
const skipped = -1;

/**
 * Frame lines seen before, with their frame ids. Most lines of `perf script` output are frame lines that repeat
 * endlessly; recognising one by its bytes (a hash of its first bytes, one probe, one comparison) avoids finding its
 * end, decoding it, running the patterns and allocating strings, which would be most of the cost per line. The
 * lines' bytes sit in one arena and their fields in typed arrays, so a lookup touches no JavaScript objects.
 */
class FrameTable {
  private readonly slots = new Int32Array(maxCachedFrames * 2);
  private hashes = new Int32Array(1024);
  private starts = new Int32Array(1024);
  private lengths = new Int32Array(1024);
  /** A frame id, `skipped`, or `-2 - i` for the i-th entry of `multiple` (inlined frames: several ids). */
  private ids = new Int32Array(1024);
  /** The entry (plus one) of the line that last followed each line: callers repeat, so it is the first guess. */
  private successors = new Int32Array(1024);
  private multiple: number[][] = [];
  private arena = Buffer.allocUnsafe(1 << 16);
  private arenaView = viewOf(this.arena);
  private arenaUsed = 0;
  private size = 0;

  /**
   * Recognises the line starting at `start` by its prefix hash: returns the index of its entry, or -1. The line's
   * end is not known yet; a candidate matches when its bytes are followed by a newline (or the end of `bytes`).
   */
  find(hash: number, bytes: Buffer, view: DataView, start: number, limit: number): number {
    const mask = this.slots.length - 1;
    for (let slot = hash & mask; this.slots[slot] !== 0; slot = (slot + 1) & mask) {
      const entry = this.slots[slot] - 1;
      if (this.hashes[entry] !== hash) continue;
      const end = start + this.lengths[entry];
      if (end > limit || (end < limit && bytes[end] !== newline)) continue;
      if (this.sameBytes(entry, bytes, view, start, end)) return entry;
    }
    return -1;
  }

  /** The line that followed this one last time, or -1. */
  successor(entry: number): number {
    return this.successors[entry] - 1;
  }

  follow(entry: number, next: number): void {
    this.successors[entry] = next + 1;
  }

  /** Whether the line at `start` is this entry's (its end is not known yet). */
  matches(entry: number, bytes: Buffer, view: DataView, start: number, limit: number): boolean {
    const end = start + this.lengths[entry];
    if (end > limit || (end < limit && bytes[end] !== newline)) return false;
    return this.sameBytes(entry, bytes, view, start, end);
  }

  /** Compares four bytes at a time: word loads are several times cheaper than byte loads here. */
  private sameBytes(entry: number, bytes: Buffer, view: DataView, start: number, end: number): boolean {
    const arena = this.arena;
    const arenaView = this.arenaView;
    const offset = this.starts[entry] - start;
    let i = start;
    for (; i + 4 <= end; i += 4) if (arenaView.getInt32(offset + i, true) !== view.getInt32(i, true)) return false;
    for (; i < end; i++) if (arena[offset + i] !== bytes[i]) return false;
    return true;
  }

  lineLength(entry: number): number {
    return this.lengths[entry];
  }

  /** The entry's frame id, `skipped`, or a code for `multipleIds`. */
  id(entry: number): number {
    return this.ids[entry];
  }

  /** The frames of a line with inlined frames, outermost first. */
  multipleIds(code: number): number[] {
    return this.multiple[-2 - code];
  }

  add(hash: number, bytes: Buffer, start: number, end: number, ids: number[] | null): number {
    // Distinct frame lines grow with the code that ran, not with the input; past the bound, start over.
    if (this.size >= maxCachedFrames) {
      this.slots.fill(0);
      this.successors.fill(0);
      this.size = this.arenaUsed = 0;
      this.multiple = [];
    }
    const length = end - start;
    if (this.size === this.ids.length) {
      this.hashes = grown(this.hashes);
      this.starts = grown(this.starts);
      this.lengths = grown(this.lengths);
      this.ids = grown(this.ids);
      this.successors = grown(this.successors);
    }
    if (this.arenaUsed + length > this.arena.length) {
      const arena = Buffer.allocUnsafe(Math.max(this.arena.length * 2, this.arenaUsed + length));
      this.arena.copy(arena, 0, 0, this.arenaUsed);
      this.arena = arena;
      this.arenaView = viewOf(arena);
    }
    const entry = this.size++;
    bytes.copy(this.arena, this.arenaUsed, start, end);
    this.starts[entry] = this.arenaUsed;
    this.arenaUsed += length;
    this.lengths[entry] = length;
    this.hashes[entry] = hash;
    if (ids === null) this.ids[entry] = skipped;
    else if (ids.length === 1) this.ids[entry] = ids[0];
    else {
      this.ids[entry] = -2 - this.multiple.length;
      this.multiple.push(ids);
    }
    const mask = this.slots.length - 1;
    let slot = hash & mask;
    while (this.slots[slot] !== 0) slot = (slot + 1) & mask;
    this.slots[slot] = entry + 1;
    return entry;
  }
}

function viewOf(bytes: Buffer): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
}

function grown(array: Int32Array): Int32Array<ArrayBuffer> {
  const bigger = new Int32Array(array.length * 2);
  bigger.set(array);
  return bigger;
}

function isBlank(byte: number): boolean {
  return byte === 0x20 || byte === 0x09;
}

/** Perl's `\s` on bytes. */
function isSpace(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);
}

/** Perl's `\w` on bytes. */
function isWord(byte: number): boolean {
  return (
    (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || byte === 0x5f
  );
}

function isDigit(byte: number): boolean {
  return byte >= 0x30 && byte <= 0x39;
}

function isLowerHex(byte: number): boolean {
  return (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66);
}

/**
 * Stacks as a tree of frame ids with a count per node, in typed arrays: a sample costs one step per frame (mostly a
 * comparison with a node's first child) instead of building and hashing its folded string; strings are made once per
 * unique stack at the end. Children past the first are found through a hash table of (parent, frame) edges.
 */
class StackTree {
  private frames = new Int32Array(1024);
  private firstChild = new Int32Array(1024);
  private nextSibling = new Int32Array(1024);
  /** Only kept for children found through `edgeSlots`. */
  private parents = new Int32Array(1024);
  private counts = new Float64Array(1024);
  private size = 1;
  private edgeSlots = new Int32Array(1024);
  private edges = 0;

  /** The root, whose children are the process names. */
  readonly root = 0;

  child(parent: number, frame: number): number {
    const first = this.firstChild[parent];
    if (first !== 0 && this.frames[first] === frame) return first;
    if (first === 0) {
      const node = this.newNode(frame);
      this.firstChild[parent] = node;
      return node;
    }
    const mask = this.edgeSlots.length - 1;
    let slot = edgeHash(parent, frame) & mask;
    for (let node = this.edgeSlots[slot]; node !== 0; node = this.edgeSlots[slot]) {
      if (this.frames[node] === frame && this.parentOf(node, parent)) return node;
      slot = (slot + 1) & mask;
    }
    const node = this.newNode(frame);
    this.nextSibling[node] = this.nextSibling[first];
    this.nextSibling[first] = node;
    this.parents[node] = parent;
    this.edgeSlots[slot] = node;
    if (++this.edges * 2 > this.edgeSlots.length) this.rehashEdges();
    return node;
  }

  add(node: number, count: number): void {
    this.counts[node] += count;
  }

  count(node: number): number {
    return this.counts[node];
  }

  frame(node: number): number {
    return this.frames[node];
  }

  /** The node's children, in no particular order. */
  /** The node's first child, or 0; the others follow through `nextSiblingOf`. */
  firstChildOf(node: number): number {
    return this.firstChild[node];
  }

  nextSiblingOf(node: number): number {
    return this.nextSibling[node];
  }

  children(node: number): number[] {
    const children: number[] = [];
    for (let c = this.firstChild[node]; c !== 0; c = this.nextSibling[c]) children.push(c);
    return children;
  }

  hasChildren(node: number): boolean {
    return this.firstChild[node] !== 0;
  }

  private parentOf(node: number, parent: number): boolean {
    return this.parents[node] === parent;
  }

  private newNode(frame: number): number {
    if (this.size === this.frames.length) {
      this.frames = grown(this.frames);
      this.firstChild = grown(this.firstChild);
      this.nextSibling = grown(this.nextSibling);
      this.parents = grown(this.parents);
      const counts = new Float64Array(this.counts.length * 2);
      counts.set(this.counts);
      this.counts = counts;
    }
    const node = this.size++;
    this.frames[node] = frame;
    return node;
  }

  private rehashEdges(): void {
    const slots = new Int32Array(this.edgeSlots.length * 2);
    const mask = slots.length - 1;
    for (const node of this.edgeSlots) {
      if (node === 0) continue;
      let slot = edgeHash(this.parents[node], this.frames[node]) & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = node;
    }
    this.edgeSlots = slots;
  }
}

function ownCopy(text: string): string {
  // Concatenation then slicing makes V8 flatten into a new string that no longer points into its parent.
  return (' ' + text).slice(1);
}

function edgeHash(parent: number, frame: number): number {
  const hash = Math.imul(parent, 0x9e3779b1) ^ frame;
  return Math.imul(hash ^ (hash >>> 16), 0x85ebca6b) >>> 0;
}

/**
 * Folds `perf script` output the way stackcollapse-perf.pl does, byte for byte, for the same options: the process
 * name as the root frame, offsets stripped, argument lists and quotes removed, `[module]` for unknown symbols,
 * inlined frames (`a->b`) marked `_[i]`, periods summed when perf printed them, one event type. Feed it chunks of
 * whole lines with `push`, then read `stacks()`.
 */
export class PerfScriptCollapser {
  readonly malformed = new MalformedLines();
  readonly skippedEvents: Record<string, number> = {};
  lines = 0;
  event: string | undefined;
  private readonly options: PerfCollapseOptions;
  private readonly kernel: boolean;
  private readonly jit: boolean;
  private readonly maxLineLength: number;
  private readonly tree = new StackTree();
  private readonly frameIds = new Map<string, number>();
  private readonly frameNames: string[] = [];
  private separatorInNames = false;
  /** Frame ids of the current sample, innermost first, as `perf script` lists them. */
  private stack = new Int32Array(256);
  private depth = 0;
  /** The frame id of the current sample's process name. */
  private process = -1;
  /** Whether frame lines now belong to a sample that is kept. */
  private sampling = false;
  private java = false;
  private period = 1;
  /** Cleaned frames by line, separately for Java processes, whose names are tidied further. */
  private readonly frameTable = new FrameTable();
  private readonly javaFrameTable = new FrameTable();
  /** Cleaned frames by `symbolKey`, for frame lines not seen before. */
  private readonly symbolTable = new FrameTable();
  private readonly javaSymbolTable = new FrameTable();
  /** Process name ids by the header's bytes up to its ids. */
  private readonly processTable = new FrameTable();
  private keyBytes = Buffer.allocUnsafe(1024);
  private keyView = viewOf(this.keyBytes);
  private lastEventBytes = Buffer.alloc(0);
  private lastEventName = '';

  constructor(options: PerfCollapseOptions & { maxLineLength?: number } = {}) {
    this.options = options;
    this.kernel = Boolean(options.kernel || options.all);
    this.jit = Boolean(options.jit || options.all);
    this.event = options.eventFilter || undefined;
    this.maxLineLength = options.maxLineLength ?? defaultMaxLineLength;
  }

  /** Takes bytes holding whole lines (as `lineChunks` yields them); a final line may lack its newline. */
  push(bytes: Buffer): void {
    const length = bytes.length;
    const view = viewOf(bytes);
    let start = 0;
    /** The entry of the previous line when it was a known frame line, or -1. */
    let previous = -1;
    while (start < length) {
      const first = bytes[start];
      if (first === newline) {
        this.lines++;
        this.endSample();
        previous = -1;
        start++;
        continue;
      }
      // Only lines starting with a blank can be frames (a header starts with its command name); look those up
      // by their first bytes, which also finds their end without a search.
      let hash = 0;
      let end = -1;
      if (isBlank(first) && previous >= 0) {
        const table = this.java ? this.javaFrameTable : this.frameTable;
        const guess = table.successor(previous);
        if (guess >= 0 && table.matches(guess, bytes, view, start, length)) {
          this.lines++;
          if (this.sampling) this.pushFrames(table, guess);
          start += table.lineLength(guess) + 1;
          previous = guess;
          continue;
        }
      }
      if (isBlank(first)) {
        if (start + hashedPrefix <= length) {
          for (let i = start; i < start + hashedPrefix; i += 4) {
            const word = view.getInt32(i, true);
            const newlines = word ^ 0x0a0a0a0a;
            // Any zero byte, i.e. a newline among these four: the line is short, hash it bytewise below.
            if (((newlines - 0x01010101) & ~newlines & 0x80808080) !== 0) {
              end = -2;
              break;
            }
            hash = Math.imul(hash ^ word, 0x01000193);
          }
        }
        if (end !== -1 || start + hashedPrefix > length) {
          hash = 0;
          end = -1;
          const stop = start + hashedPrefix < length ? start + hashedPrefix : length;
          for (let i = start; i < stop; i++) {
            const byte = bytes[i];
            if (byte === newline) {
              end = i;
              break;
            }
            hash = Math.imul(hash ^ byte, 0x01000193);
          }
        }
        hash = (hash ^ (hash >>> 15)) & 0x3fffffff;
        const table = this.java ? this.javaFrameTable : this.frameTable;
        const entry = table.find(hash, bytes, view, start, end < 0 ? length : end);
        if (entry >= 0) {
          this.lines++;
          if (this.sampling) this.pushFrames(table, entry);
          start += table.lineLength(entry) + 1;
          if (previous >= 0) table.follow(previous, entry);
          previous = entry;
          continue;
        }
      }
      if (end < 0) {
        end = bytes.indexOf(newline, start);
        if (end < 0) end = length;
      }
      this.slowLine(bytes, view, start, end, hash);
      previous = -1;
      start = end + 1;
    }
  }

  private pushFrames(table: FrameTable, entry: number): void {
    const id = table.id(entry);
    if (id === skipped) return;
    if (id >= 0) {
      if (this.depth === this.stack.length) this.stack = grown(this.stack);
      this.stack[this.depth++] = id;
      return;
    }
    // Inlined frames: the line lists them outermost first, the stack is innermost first.
    const ids = table.multipleIds(id);
    for (let j = ids.length - 1; j >= 0; j--) {
      if (this.depth === this.stack.length) this.stack = grown(this.stack);
      this.stack[this.depth++] = ids[j];
    }
  }

  /** A line not seen before (or not a frame): the patterns decide, and frame lines join the table. */
  private slowLine(bytes: Buffer, view: DataView, start: number, end: number, hash: number): void {
    if (end - start > this.maxLineLength) {
      this.lines++;
      this.malformed.add('(line longer than the limit)');
      return;
    }
    if (!isBlank(bytes[start])) {
      if (bytes[start] !== 0x23 /* # */ && this.byteHeader(bytes, view, start, end)) this.lines++;
      else this.line(bytes.toString('utf8', start, end));
      return;
    }
    const table = this.java ? this.javaFrameTable : this.frameTable;
    // The same function seen at another address (another process's mapping, another offset) folds the same way.
    const key = this.sampling && !this.options.addrs ? this.symbolKey(bytes, start, end) : -1;
    const symbols = this.java ? this.javaSymbolTable : this.symbolTable;
    let keyHash = 0;
    if (key > 0) {
      for (let i = 0; i < key; i++) keyHash = Math.imul(keyHash ^ this.keyBytes[i], 0x01000193);
      keyHash = (keyHash ^ (keyHash >>> 15)) & 0x3fffffff;
      const known = symbols.find(keyHash, this.keyBytes, this.keyView, 0, key);
      if (known >= 0) {
        this.lines++;
        const id = symbols.id(known);
        const ids = id === skipped ? null : id >= 0 ? [id] : symbols.multipleIds(id);
        this.pushFrames(table, table.add(hash, bytes, start, end, ids));
        return;
      }
    }
    const ids = this.line(bytes.toString('utf8', start, end));
    if (ids === undefined) return;
    this.pushFrames(table, table.add(hash, bytes, start, end, ids));
    if (key > 0) symbols.add(keyHash, this.keyBytes, 0, key, ids);
  }

  /**
   * Writes into `keyBytes` what decides how a frame line folds without --addrs: its symbol without the `+0x...`
   * offset, then everything from its module on, and returns the key's length (or -1). Only for lines where the
   * frame pattern's first attempt succeeds (a ' (' after the symbol's first character with a ')' after it), so that
   * the address and blanks before the symbol cannot change how the pattern splits the line.
   */
  private symbolKey(bytes: Buffer, start: number, end: number): number {
    let i = start;
    while (i < end && isSpace(bytes[i])) i++;
    const word = i;
    while (i < end && isWord(bytes[i])) i++;
    if (i === word) return -1;
    while (i < end && isSpace(bytes[i])) i++;
    const symbol = i;
    let close = end - 1;
    while (close >= symbol && bytes[close] !== 0x29 /* ) */) close--;
    if (close < symbol + 3) return -1;
    let open = close - 2;
    while (open > symbol && !(bytes[open] === 0x20 && bytes[open + 1] === 0x28)) open--;
    if (open <= symbol) return -1;
    let symbolEnd = open;
    let hex = symbolEnd;
    while (hex > symbol && isLowerHex(bytes[hex - 1])) hex--;
    if (
      hex < symbolEnd &&
      hex - 3 >= symbol &&
      bytes[hex - 1] === 0x78 &&
      bytes[hex - 2] === 0x30 &&
      bytes[hex - 3] === 0x2b
    ) {
      symbolEnd = hex - 3;
    }
    const length = symbolEnd - symbol + (end - open);
    if (length > this.keyBytes.length) {
      this.keyBytes = Buffer.allocUnsafe(Math.max(length, this.keyBytes.length * 2));
      this.keyView = viewOf(this.keyBytes);
    }
    const key = this.keyBytes;
    let k = 0;
    for (let j = symbol; j < symbolEnd; j++) key[k++] = bytes[j];
    for (let j = open; j < end; j++) key[k++] = bytes[j];
    return length;
  }

  /** Handles one line; for a frame line of a sample, returns its frame ids (null for frames upstream skips). */
  private line(line: string): number[] | null | undefined {
    this.lines++;
    if (line.charCodeAt(0) === 0x23 /* # */) return undefined;
    if (line.length === 0) {
      this.endSample();
      return undefined;
    }
    const header = headerPattern.exec(line);
    if (header) {
      this.header(line, header);
      return undefined;
    }
    const frame = framePattern.exec(line);
    if (frame) {
      if (!this.sampling) return undefined;
      const names = this.cleanFrame(frame[1], frame[2], frame[3], this.java);
      return names && names.map((name) => this.frameId(name));
    }
    this.malformed.add(line);
    return undefined;
  }

  private frameId(name: string): number {
    let id = this.frameIds.get(name);
    if (id === undefined) {
      id = this.frameNames.length;
      const copy = ownCopy(name);
      if (copy.includes(';')) this.separatorInNames = true;
      this.frameIds.set(copy, id);
      this.frameNames.push(copy);
    }
    return id;
  }

  /**
   * The folded stacks so far, in the order the Perl script prints them (byte order), so sorting them again is a
   * single pass. Siblings are ordered by name for the stack that ends at them and by name plus ';' for the stacks
   * that continue: a stack `a` sorts before `a-b;x`, which sorts before `a;x`. Each stack is written as bytes into
   * one path buffer and decoded once, which is far cheaper than concatenating strings frame by frame.
   */
  stacks(): Stacks {
    const tree = this.tree;
    const names = this.frameNames;
    const encoded: Buffer[] = [];
    const nameBytes = (node: number): Buffer => {
      const id = tree.frame(node);
      return (encoded[id] ??= Buffer.from(names[id]));
    };
    // The text is sized exactly first: growing it by doubling cost a third of this function in copies and page
    // faults.
    let size = 0;
    const measure = (node: number, length: number): void => {
      for (let child = tree.firstChildOf(node); child !== 0; child = tree.nextSiblingOf(child)) {
        const childLength = (length > 0 ? length + 1 : 0) + nameBytes(child).length;
        const count = tree.count(child);
        if (count !== 0) size += childLength + formatCount(count).length + 2;
        if (tree.hasChildren(child)) measure(child, childLength);
      }
    };
    measure(tree.root, 0);
    const text = Buffer.allocUnsafe(size);
    let used = 0;
    const keyStarts: number[] = [];
    const keyEnds: number[] = [];
    const counts: number[] = [];
    // The current stack's bytes; each stack's line is copied from here.
    let path = Buffer.allocUnsafe(1 << 16);
    const visit = (node: number, length: number, ends: boolean, continues: boolean): void => {
      const name = nameBytes(node);
      if (length + name.length + 1 > path.length) {
        const longer = Buffer.allocUnsafe(Math.max(path.length * 2, length + name.length + 1));
        path.copy(longer, 0, 0, length);
        path = longer;
      }
      if (length > 0) path[length++] = 0x3b; /* ; */
      path.set(name, length);
      length += name.length;
      if (ends) {
        const count = tree.count(node);
        const digits = formatCount(count);
        keyStarts.push(used);
        text.set(path.subarray(0, length), used);
        used += length;
        keyEnds.push(used);
        text[used++] = 0x20;
        used += text.write(digits, used, 'latin1');
        text[used++] = newline;
        counts.push(count);
      }
      if (continues) walk(node, length);
    };
    const walk = (node: number, length: number): void => {
      const only = tree.firstChildOf(node);
      if (tree.nextSiblingOf(only) === 0) {
        visit(only, length, tree.count(only) !== 0, tree.hasChildren(only));
        return;
      }
      const children = tree.children(node);
      const entries: { key: string; node: number; ends: boolean }[] = [];
      for (const child of children) {
        const name = names[tree.frame(child)];
        if (tree.count(child) !== 0) entries.push({ key: name, node: child, ends: true });
        if (tree.hasChildren(child)) entries.push({ key: name + ';', node: child, ends: false });
      }
      entries.sort((a, b) => compareBytes(a.key, b.key));
      for (const entry of entries) visit(entry.node, length, entry.ends, !entry.ends);
    };
    if (tree.hasChildren(tree.root)) walk(tree.root, 0);
    const stacks = new SortedStacks(text.subarray(0, used), keyStarts, keyEnds, counts);
    // Byte order follows from the tree only while no frame name holds the separator (process names may).
    return this.separatorInNames ? new Map(stacks) : stacks;
  }

  private endSample(): void {
    if (this.sampling) {
      const tree = this.tree;
      let node = tree.child(tree.root, this.process);
      for (let i = this.depth - 1; i >= 0; i--) node = tree.child(node, this.stack[i]);
      tree.add(node, this.period);
    }
    this.depth = 0;
    this.process = -1;
    this.sampling = false;
    this.java = false;
  }

  private header(line: string, match: RegExpExecArray): void {
    const event = eventPattern.exec(line);
    if (event && !this.keepsEvent(event[2])) return;
    const period = event?.[1] ?? '';
    this.startSample(
      this.processId(match[1], match[2], match[3]),
      period === '' || period === '0' ? 1 : Number(period),
    );
  }

  /** Applies the event filter (the first event seen, unless one was chosen) and counts what it drops. */
  private keepsEvent(name: string): boolean {
    if (this.event === undefined) this.event = name;
    else if (name !== this.event) {
      this.skippedEvents[name] = (this.skippedEvents[name] ?? 0) + 1;
      return false;
    }
    return true;
  }

  private processId(comm: string, pid: string, tid: string | undefined): number {
    if (!tid || tid === '0') {
      tid = pid;
      pid = '?';
    }
    let name = this.options.tid ? `${comm}-${pid}/${tid}` : this.options.pid ? `${comm}-${pid}` : comm;
    if (name.includes(' ')) name = name.replaceAll(' ', '_');
    return this.frameId(name);
  }

  private startSample(processId: number, period: number): void {
    this.period = period;
    const name = this.frameNames[processId];
    this.process = processId;
    // Perl truth: '' and '0' mean "no current sample", as undef does.
    this.sampling = name !== '' && name !== '0';
    this.java = name.startsWith('java');
  }

  /**
   * The header and event patterns worked out on the bytes, for the usual forms: a sample header is one per sample,
   * and decoding it and running both patterns was a fifth of the time. The command and ids are looked up by their
   * bytes. Returns false, having done nothing, when the bytes do not show a header with an event; the patterns
   * decide then.
   */
  private byteHeader(bytes: Buffer, view: DataView, start: number, end: number): boolean {
    // `^(\S.+?)\s+(\d+)\/*(\d+)*\s+`: the shortest command (two characters or more) that blanks, digits,
    // slashes, digits and a blank follow.
    if (isSpace(bytes[start])) return false;
    let commEnd = -1;
    let pidStart = 0;
    let pidEnd = 0;
    let tidStart = 0;
    let tidEnd = 0;
    for (let p = start + 2; p < end && commEnd < 0; p++) {
      if (!isSpace(bytes[p])) continue;
      let q = p;
      while (q < end && isSpace(bytes[q])) q++;
      if (q === end || !isDigit(bytes[q])) continue;
      pidStart = q;
      while (q < end && isDigit(bytes[q])) q++;
      pidEnd = q;
      while (q < end && bytes[q] === 0x2f /* / */) q++;
      tidStart = q;
      while (q < end && isDigit(bytes[q])) q++;
      tidEnd = q;
      if (q < end && isSpace(bytes[q])) commEnd = p;
    }
    if (commEnd < 0) return false;
    // `:\s*(\d+)*\s+(\S+):\s*$`: the event is the last run of non-blanks, ending with ':'; before it blanks,
    // optionally the period and blanks, then a ':'.
    let eventEnd = end;
    while (eventEnd > start && isSpace(bytes[eventEnd - 1])) eventEnd--;
    let eventStart = eventEnd;
    while (eventStart > start && !isSpace(bytes[eventStart - 1])) eventStart--;
    if (eventEnd - eventStart < 2 || bytes[eventEnd - 1] !== 0x3a /* : */) return false;
    let gap = eventStart;
    while (gap > start && isSpace(bytes[gap - 1])) gap--;
    if (gap === eventStart) return false;
    let periodStart = gap;
    while (periodStart > start && isDigit(bytes[periodStart - 1])) periodStart--;
    const periodEnd = gap;
    let colon = periodStart;
    if (periodStart < periodEnd) while (colon > start && isSpace(bytes[colon - 1])) colon--;
    if (colon === start || bytes[colon - 1] !== 0x3a) return false;
    if (!this.keepsEvent(this.eventName(bytes, eventStart, eventEnd - 1))) return true;

    const keyEnd = tidEnd;
    let hash = 0;
    for (let i = start; i < keyEnd; i++) hash = Math.imul(hash ^ bytes[i], 0x01000193);
    hash = (hash ^ (hash >>> 15)) & 0x3fffffff;
    const known = this.processTable.find(hash, bytes, view, start, keyEnd);
    let processId: number;
    if (known >= 0) processId = this.processTable.id(known);
    else {
      processId = this.processId(
        bytes.toString('utf8', start, commEnd),
        bytes.toString('latin1', pidStart, pidEnd),
        tidStart < tidEnd ? bytes.toString('latin1', tidStart, tidEnd) : undefined,
      );
      this.processTable.add(hash, bytes, start, keyEnd, [processId]);
    }
    const digits = periodEnd - periodStart;
    let period = 0;
    if (digits > 15) period = Number(bytes.toString('latin1', periodStart, periodEnd));
    else for (let i = periodStart; i < periodEnd; i++) period = period * 10 + bytes[i] - 0x30;
    // As upstream: no period, or the string '0', counts one sample ('00' counts nothing).
    this.startSample(processId, digits === 0 || (digits === 1 && period === 0) ? 1 : period);
    return true;
  }

  /** The event's name, decoded only when it differs from the previous header's. */
  private eventName(bytes: Buffer, start: number, end: number): string {
    const last = this.lastEventBytes;
    let same = last.length === end - start;
    for (let i = 0; same && i < last.length; i++) same = last[i] === bytes[start + i];
    if (!same) {
      this.lastEventBytes = Buffer.from(bytes.subarray(start, end));
      this.lastEventName = bytes.toString('utf8', start, end);
    }
    return this.lastEventName;
  }

  private cleanFrame(pc: string, rawSymbol: string, module: string, java: boolean): string[] | null {
    const symbol = rawSymbol.replace(offsetSuffix, '');
    if (symbol.charCodeAt(0) === 0x28 /* ( */) return null;
    const names: string[] = [];
    for (let func of symbol.split('->')) {
      if (func === '[unknown]') {
        const known = module !== '[unknown]' ? module.replace(/^.*\//s, '') : 'unknown';
        func = this.options.addrs ? `[${known} <${pc}>]` : `[${known}]`;
      }
      if (func.includes(';')) func = func.replaceAll(';', ':');
      if (!goMethod.test(func)) func = func.replace(argumentList, '');
      func = func.replace(quotes, '');
      if (java && func.includes('/') && func.charCodeAt(0) === 0x4c /* L */) func = func.slice(1);
      if (names.length > 0) {
        if (!func.includes('_[i]')) func += '_[i]';
      } else if (this.kernel && kernelModule.test(module) && !module.includes('unknown')) {
        func += '_[k]';
      } else if (this.jit && jitModule.test(module)) {
        if (!func.includes('_[j]')) func += '_[j]';
      }
      names.push(func);
    }
    return names;
  }
}

/** Reads `perf script` text (plain or gzip) and folds it; memory grows with unique stacks, not with the input. */
export async function collapsePerfScript(
  source: ByteSource,
  options: PerfCollapseOptions = {},
): Promise<PerfCollapseResult> {
  const collapser = new PerfScriptCollapser(options);
  for await (const chunk of lineChunks(source, {
    signal: options.signal,
    onOversizedLine: () => collapser.malformed.add('(line longer than the limit)'),
  })) {
    collapser.push(chunk);
  }
  return {
    stacks: collapser.stacks(),
    lines: collapser.lines,
    malformedLines: collapser.malformed.count,
    malformedExamples: collapser.malformed.examples,
    event: collapser.event,
    skippedEvents: collapser.skippedEvents,
  };
}

import { defaultMaxLineLength, lineChunks, type ByteSource } from './input.ts';
import { compareBytes, MalformedLines, type CollapseResult, type Stacks } from './stacks.ts';

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
      this.size = this.arenaUsed = 0;
      this.multiple = [];
    }
    const length = end - start;
    if (this.size === this.ids.length) {
      this.hashes = grown(this.hashes);
      this.starts = grown(this.starts);
      this.lengths = grown(this.lengths);
      this.ids = grown(this.ids);
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
  /** Frame ids of the current sample, innermost first, as `perf script` lists them. */
  private stack = new Int32Array(256);
  private depth = 0;
  private processName: string | undefined;
  /** Whether frame lines now belong to a sample that is kept. */
  private sampling = false;
  private java = false;
  private period = 1;
  /** Cleaned frames by line, separately for Java processes, whose names are tidied further. */
  private readonly frameTable = new FrameTable();
  private readonly javaFrameTable = new FrameTable();

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
    while (start < length) {
      const first = bytes[start];
      if (first === newline) {
        this.lines++;
        this.endSample();
        start++;
        continue;
      }
      // Only lines starting with a blank can be frames (a header starts with its command name); look those up
      // by their first bytes, which also finds their end without a search.
      let hash = 0;
      let end = -1;
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
          continue;
        }
      }
      if (end < 0) {
        end = bytes.indexOf(newline, start);
        if (end < 0) end = length;
      }
      this.slowLine(bytes, start, end, hash);
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
  private slowLine(bytes: Buffer, start: number, end: number, hash: number): void {
    if (end - start > this.maxLineLength) {
      this.lines++;
      this.malformed.add('(line longer than the limit)');
      return;
    }
    const frame = isBlank(bytes[start]);
    const ids = this.line(bytes.toString('utf8', start, end));
    if (frame && ids !== undefined) {
      const table = this.java ? this.javaFrameTable : this.frameTable;
      this.pushFrames(table, table.add(hash, bytes, start, end, ids));
    }
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
      this.frameIds.set(copy, id);
      this.frameNames.push(copy);
    }
    return id;
  }

  /**
   * The folded stacks so far, in the order the Perl script prints them (byte order), so sorting them again is a
   * single pass. Siblings are ordered by name for the stack that ends at them and by name plus ';' for the stacks
   * that continue: a stack `a` sorts before `a-b;x`, which sorts before `a;x`.
   */
  stacks(): Stacks {
    const stacks: Stacks = new Map();
    const tree = this.tree;
    const names = this.frameNames;
    const walk = (node: number, prefix: string): void => {
      const entries: { key: string; node: number; ends: boolean }[] = [];
      for (const child of tree.children(node)) {
        const name = names[tree.frame(child)];
        if (tree.count(child) !== 0) entries.push({ key: name, node: child, ends: true });
        if (tree.hasChildren(child)) entries.push({ key: name + ';', node: child, ends: false });
      }
      if (entries.length > 1) entries.sort((a, b) => compareBytes(a.key, b.key));
      for (const entry of entries) {
        const path = prefix === '' ? names[tree.frame(entry.node)] : prefix + ';' + names[tree.frame(entry.node)];
        if (entry.ends) stacks.set(path, tree.count(entry.node));
        else walk(entry.node, path);
      }
    };
    walk(tree.root, '');
    return stacks;
  }

  private endSample(): void {
    if (this.sampling) {
      const tree = this.tree;
      let node = tree.child(tree.root, this.frameId(this.processName!));
      for (let i = this.depth - 1; i >= 0; i--) node = tree.child(node, this.stack[i]);
      tree.add(node, this.period);
    }
    this.depth = 0;
    this.processName = undefined;
    this.sampling = false;
    this.java = false;
  }

  private header(line: string, match: RegExpExecArray): void {
    const comm = match[1];
    let pid = match[2];
    let tid = match[3];
    if (!tid || tid === '0') {
      tid = pid;
      pid = '?';
    }
    let period = '';
    const event = eventPattern.exec(line);
    if (event) {
      period = event[1] ?? '';
      const name = event[2];
      if (this.event === undefined) {
        this.event = name;
      } else if (name !== this.event) {
        this.skippedEvents[name] = (this.skippedEvents[name] ?? 0) + 1;
        return;
      }
    }
    this.period = period === '' || period === '0' ? 1 : Number(period);
    let name = this.options.tid ? `${comm}-${pid}/${tid}` : this.options.pid ? `${comm}-${pid}` : comm;
    if (name.includes(' ')) name = name.replaceAll(' ', '_');
    this.processName = name;
    // Perl truth: '' and '0' mean "no current sample", as undef does.
    this.sampling = name !== '' && name !== '0';
    this.java = name.startsWith('java');
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

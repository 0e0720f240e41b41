import { defaultMaxLineLength, lineChunks, type ByteSource } from './input.ts';
import { MalformedLines, type CollapseResult, type Stacks } from './stacks.ts';

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

/**
 * Frame lines seen before, with their frame ids. Most lines of `perf script` output are frame lines that repeat
 * endlessly; recognising one by its bytes (a hash, one probe of an open-addressing table, one comparison) avoids
 * decoding it, running the patterns and allocating strings, which would be most of the cost per line.
 */
class FrameTable {
  private readonly slots = new Int32Array(1 << 18);
  private readonly hashes: number[] = [];
  private readonly lines: Buffer[] = [];
  private readonly ids: (number[] | null)[] = [];

  /** The ids of a known line (null: a frame upstream skips), or undefined. */
  find(hash: number, bytes: Buffer, start: number, end: number): number[] | null | undefined {
    const mask = this.slots.length - 1;
    for (let slot = hash & mask; this.slots[slot] !== 0; slot = (slot + 1) & mask) {
      const entry = this.slots[slot] - 1;
      if (this.hashes[entry] === hash && sameLine(this.lines[entry], bytes, start, end)) return this.ids[entry];
    }
    return undefined;
  }

  add(hash: number, line: Buffer, ids: number[] | null): void {
    // Distinct frame lines grow with the code that ran, not with the input; past the bound, start over.
    if (this.ids.length >= maxCachedFrames) {
      this.slots.fill(0);
      this.hashes.length = this.lines.length = this.ids.length = 0;
    }
    const mask = this.slots.length - 1;
    let slot = hash & mask;
    while (this.slots[slot] !== 0) slot = (slot + 1) & mask;
    this.slots[slot] = this.ids.length + 1;
    this.hashes.push(hash);
    this.lines.push(line);
    this.ids.push(ids);
  }
}

function isBlank(byte: number): boolean {
  return byte === 0x20 || byte === 0x09;
}

/**
 * Hashes a line's length and first 32 bytes: perf prints a tab, the address right-aligned in 16 columns, then the
 * symbol. Collisions (the same offset in two modules) only cost a comparison.
 */
function hashLine(bytes: Buffer, start: number, end: number): number {
  let hash = end - start;
  const stop = Math.min(end, start + 32);
  for (let i = start; i < stop; i++) hash = (Math.imul(hash, 31) + bytes[i]) | 0;
  return hash & 0x3fffffff;
}

function sameLine(cached: Buffer, bytes: Buffer, start: number, end: number): boolean {
  if (cached.length !== end - start) return false;
  for (let i = end - start - 1; i >= 0; i--) if (cached[i] !== bytes[start + i]) return false;
  return true;
}

/**
 * A node of the stack tree. Most nodes have one child (call chains are long and narrow), kept inline; a map only
 * appears where stacks branch, which keeps the tree several times smaller than a map per node.
 */
interface StackNode {
  count: number;
  firstId: number;
  first: StackNode | undefined;
  more: Map<number, StackNode> | undefined;
}

function newNode(): StackNode {
  return { count: 0, firstId: -1, first: undefined, more: undefined };
}

function child(node: StackNode, id: number): StackNode {
  if (node.firstId === id) return node.first!;
  if (node.first === undefined) {
    node.firstId = id;
    return (node.first = newNode());
  }
  let next = node.more?.get(id);
  if (next === undefined) {
    next = newNode();
    (node.more ??= new Map()).set(id, next);
  }
  return next;
}

function* children(node: StackNode): Generator<[number, StackNode]> {
  if (node.first !== undefined) yield [node.firstId, node.first];
  if (node.more !== undefined) yield* node.more;
}

function ownCopy(text: string): string {
  // Concatenation then slicing makes V8 flatten into a new string that no longer points into its parent.
  return (' ' + text).slice(1);
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
  /**
   * Stacks as a tree of frame ids with a count per node: a sample costs one map step per frame instead of building
   * and hashing its whole folded string; strings are made once per unique stack at the end.
   */
  private readonly root: StackNode = newNode();
  private readonly frameIds = new Map<string, number>();
  private readonly frameNames: string[] = [];
  /** Frame ids of the current sample, leaf first; each entry is one input line's frames, outermost first. */
  private frames: number[][] = [];
  private processName: string | undefined;
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
    let start = 0;
    while (start < bytes.length) {
      let end = bytes.indexOf(0x0a, start);
      if (end < 0) end = bytes.length;
      this.lineBytes(bytes, start, end);
      start = end + 1;
    }
  }

  private lineBytes(bytes: Buffer, start: number, end: number): void {
    if (end - start > this.maxLineLength) {
      this.lines++;
      this.malformed.add('(line longer than the limit)');
      return;
    }
    // Only lines starting with a blank can be frames (a header starts with its command name); look those up first.
    if (end > start && isBlank(bytes[start])) {
      const table = this.java ? this.javaFrameTable : this.frameTable;
      const hash = hashLine(bytes, start, end);
      const known = table.find(hash, bytes, start, end);
      if (known !== undefined) {
        this.lines++;
        this.frameLine(known);
        return;
      }
      const ids = this.line(bytes.toString('utf8', start, end));
      if (ids !== undefined) table.add(hash, Buffer.from(bytes.subarray(start, end)), ids);
      return;
    }
    this.line(bytes.toString('utf8', start, end));
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
      if (!this.inSample()) return undefined;
      const names = this.cleanFrame(frame[1], frame[2], frame[3], this.java);
      const ids = names && names.map((name) => this.frameId(name));
      this.frameLine(ids);
      return ids;
    }
    this.malformed.add(line);
    return undefined;
  }

  private frameLine(ids: number[] | null): void {
    if (ids !== null && this.inSample()) this.frames.push(ids);
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

  /** The folded stacks so far. */
  stacks(): Stacks {
    const stacks: Stacks = new Map();
    const walk = (node: StackNode, prefix: string): void => {
      if (node.count !== 0) stacks.set(prefix, node.count);
      for (const [id, next] of children(node)) walk(next, prefix + ';' + this.frameNames[id]);
    };
    for (const [id, next] of children(this.root)) walk(next, this.frameNames[id]);
    return stacks;
  }

  private endSample(): void {
    if (!this.inSample()) return;
    let node = child(this.root, this.frameId(this.processName!));
    for (let i = this.frames.length - 1; i >= 0; i--) {
      const ids = this.frames[i];
      for (let j = 0; j < ids.length; j++) node = child(node, ids[j]);
    }
    node.count += this.period;
    this.frames = [];
    this.processName = undefined;
    this.java = false;
  }

  /** Upstream tests the process name for Perl truth: '' and '0' mean "no current sample" as undef does. */
  private inSample(): boolean {
    return this.processName !== undefined && this.processName !== '' && this.processName !== '0';
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

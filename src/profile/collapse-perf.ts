import { lineBatches, type ByteSource } from './input.ts';
import { addStack, MalformedLines, type CollapseResult, type Stacks } from './stacks.ts';

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

/**
 * Folds `perf script` output the way stackcollapse-perf.pl does, byte for byte, for the same options: the process
 * name as the root frame, offsets stripped, argument lists and quotes removed, `[module]` for unknown symbols,
 * inlined frames (`a->b`) marked `_[i]`, periods summed when perf printed them, one event type.
 */
export class PerfScriptCollapser {
  readonly stacks: Stacks = new Map();
  readonly malformed = new MalformedLines();
  readonly skippedEvents: Record<string, number> = {};
  lines = 0;
  event: string | undefined;
  private readonly options: PerfCollapseOptions;
  private readonly kernel: boolean;
  private readonly jit: boolean;
  /** Frames of the current sample, leaf first; each entry is one input line's frames, outermost first. */
  private frames: string[][] = [];
  private processName: string | undefined;
  private period = 1;
  /** Frame lines repeat endlessly; their cleaned names are cached per (line, java) until the cache gets large. */
  private readonly frameCache = new Map<string, string[] | null>();

  constructor(options: PerfCollapseOptions = {}) {
    this.options = options;
    this.kernel = Boolean(options.kernel || options.all);
    this.jit = Boolean(options.jit || options.all);
    this.event = options.eventFilter || undefined;
  }

  line(line: string): void {
    this.lines++;
    if (line.charCodeAt(0) === 0x23 /* # */) return;
    if (line.length === 0) {
      this.endSample();
      return;
    }
    const header = headerPattern.exec(line);
    if (header) {
      this.header(line, header);
      return;
    }
    const frame = framePattern.exec(line);
    if (frame) {
      if (!this.processName) return;
      const names = this.frameNames(line, frame);
      if (names) this.frames.push(names);
      return;
    }
    this.malformed.add(line);
  }

  /** The input ended; a last sample without a trailing blank line is not counted, as upstream does not. */
  end(): void {}

  private endSample(): void {
    // Upstream treats a falsy Perl string ('' or '0') as "no current sample".
    if (!this.processName || this.processName === '0') return;
    let stack = this.processName;
    for (let i = this.frames.length - 1; i >= 0; i--) {
      const names = this.frames[i];
      for (let j = 0; j < names.length; j++) stack += ';' + names[j];
    }
    addStack(this.stacks, stack, this.period);
    this.frames = [];
    this.processName = undefined;
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
  }

  private frameNames(line: string, match: RegExpExecArray): string[] | null {
    const java = this.processName!.startsWith('java');
    // The address only shows in the result for unknown symbols with --addrs; otherwise lines differing only in
    // their address share one cache entry.
    const key = java ? 'j' + line : line;
    const cached = this.frameCache.get(key);
    if (cached !== undefined) return cached;
    const names = this.cleanFrame(match[1], match[2], match[3], java);
    if (this.frameCache.size > 200_000) this.frameCache.clear();
    this.frameCache.set(key, names);
    return names;
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
  for await (const batch of lineBatches(source, {
    signal: options.signal,
    onOversizedLine: () => collapser.malformed.add('(line longer than the limit)'),
  })) {
    for (let i = 0; i < batch.length; i++) collapser.line(batch[i]);
  }
  collapser.end();
  return {
    stacks: collapser.stacks,
    lines: collapser.lines,
    malformedLines: collapser.malformed.count,
    malformedExamples: collapser.malformed.examples,
    event: collapser.event,
    skippedEvents: collapser.skippedEvents,
  };
}

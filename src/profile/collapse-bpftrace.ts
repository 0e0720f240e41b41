import type { ByteSource } from './input.ts';
import { addStack, collapseLines, MalformedLines, type CollapseResult } from './stacks.ts';

const blockStart = /^@\[$/;
/** `@[kstack, ustack]` with an empty kernel stack opens with `@[, ` on a line of its own. */
const blockStartEmptyFirstKey = /^@\[,\s*$/;
/** Between the stacks of a multi-stack key. */
const keySeparator = /^\s*,\s*$/;
const singleLineKey = /^@\[,\s(.*)\]: (\d+)/s;
const blockEnd = /^,?\s?(.*)\]: (\d+)/s;
const foldedLine = /^(\S.*?)\s+(\d+)$/s;
const leadingSpace = /^\s+/;
/** `name+123` as ustack/kstack print a frame; `0x7f...` (unsymbolized) carries none. */
const symbolOffset = /\+\d+$/;

export interface BpftraceCollapseOptions {
  signal?: AbortSignal;
  /**
   * Drop the `+offset` of every stack frame, so each function is one frame whichever instruction was sampled. Off by
   * default, matching stackcollapse-bpftrace.pl.
   */
  stripOffsets?: boolean;
}

/**
 * Folds bpftrace map output keyed by `ustack`/`kstack` (what stackcollapse-bpftrace.pl reads: `@[` then one frame per
 * line, leaf first, then `]: count`) and, outside map blocks, lines already folded by libbpf-tools (`profile -f`,
 * `offcputime -f`). Frames keep their `+offset`, as upstream keeps them, unless `stripOffsets` is set. Two deliberate differences from upstream, both
 * for `@[kstack, ustack]` keys: the `,` line between the stacks is not made a frame, and entries whose kernel stack
 * is empty (`@[, ` alone on a line) are kept instead of silently dropped.
 */
export class BpftraceCollapser {
  readonly stacks = new Map<string, number>();
  readonly malformed = new MalformedLines();
  lines = 0;
  private frames: string[] | undefined;
  private readonly stripOffsets: boolean;

  constructor(options: Pick<BpftraceCollapseOptions, 'stripOffsets'> = {}) {
    this.stripOffsets = options.stripOffsets ?? false;
  }

  line(line: string): void {
    this.lines++;
    if (this.frames === undefined) {
      if (blockStart.test(line) || blockStartEmptyFirstKey.test(line)) {
        this.frames = [];
        return;
      }
      const single = singleLineKey.exec(line);
      if (single) {
        addStack(this.stacks, single[1], Number(single[2]));
        return;
      }
      const folded = foldedLine.exec(line);
      if (folded && folded[1].includes(';')) {
        addStack(this.stacks, folded[1], Number(folded[2]));
        return;
      }
      // bpftrace prints "Attaching N probes..." and maps that hold no stacks; only non-blank lines that look like
      // neither count as malformed.
      if (line.trim() !== '' && !line.startsWith('Attaching ') && !line.startsWith('@')) this.malformed.add(line);
      return;
    }
    const end = blockEnd.exec(line);
    if (end) {
      if (end[1].length > 0) this.frames.push(end[1]);
      addStack(this.stacks, this.frames.reverse().join(';'), Number(end[2]));
      this.frames = undefined;
      return;
    }
    if (keySeparator.test(line)) return;
    const frame = line.replace(leadingSpace, '');
    this.frames.push(this.stripOffsets ? frame.replace(symbolOffset, '') : frame);
  }

  end(): void {
    if (this.frames !== undefined && this.frames.length > 0) this.malformed.add('(input ended inside a map entry)');
  }
}

export async function collapseBpftrace(
  source: ByteSource,
  options: BpftraceCollapseOptions = {},
): Promise<CollapseResult> {
  const collapser = new BpftraceCollapser({ stripOffsets: options.stripOffsets });
  return collapseLines(source, collapser, options.signal);
}

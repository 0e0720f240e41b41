import type { ByteSource } from './input.ts';
import { addStack, collapseLines, MalformedLines, type CollapseResult } from './stacks.ts';

/** `#N  0xADDR in func (args) at file:line` or `#N  func (args) at file:line` (the innermost frame has no address). */
const framePattern = /^#[0-9]* *([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*)/;
const hexAddress = /0x[a-zA-Z0-9]*/;

export interface GdbCollapseOptions {
  signal?: AbortSignal;
}

/**
 * Folds gdb backtraces (`thread apply all bt`, repeated: the poor man's profiler) as stackcollapse-gdb.pl does: one
 * sample per backtrace, ended by a `Thread` line or any other non-frame line.
 */
export class GdbCollapser {
  readonly stacks = new Map<string, number>();
  readonly malformed = new MalformedLines();
  lines = 0;
  private current = '';

  line(line: string): void {
    this.lines++;
    if (line.startsWith('Thread')) {
      this.current = '';
      return;
    }
    const frame = framePattern.exec(line);
    if (frame) {
      const name = hexAddress.test(frame[1]) ? frame[3] : frame[1];
      this.current = this.current === '' ? name : `${name};${this.current}`;
      return;
    }
    if (line.startsWith('#')) this.malformed.add(line);
    this.flush();
  }

  end(): void {
    this.flush();
  }

  private flush(): void {
    if (this.current === '') return;
    addStack(this.stacks, this.current, 1);
    this.current = '';
  }
}

export async function collapseGdb(source: ByteSource, options: GdbCollapseOptions = {}): Promise<CollapseResult> {
  const collapser = new GdbCollapser();
  return collapseLines(source, collapser, options.signal);
}

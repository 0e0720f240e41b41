import type { ByteSource } from './input.ts';
import { addStack, collapseLines, MalformedLines, type CollapseResult } from './stacks.ts';

const countLine = /^\s+(\d+)$/;
const processLine = /^\s+-\s+(.*?) \((\d+)\)$/;
const delimiter = /^\s+--$/;
const frameLine = /^\s+(\S.*?)\s*$/;
const foldedLine = /^(\S[^\n]*?;[^\n]*?)\s+(\d+)$/;
const banner = /^(Tracing|Attaching|Sampling|Hit Ctrl-C)/;

export interface LibbpfCollapseOptions {
  signal?: AbortSignal;
}

/**
 * Folds the stack reports of libbpf-tools and BCC (`offcputime`, `profile`, `biostacks`...): frames leaf first, one
 * per indented line, an optional `--` between kernel and user frames, `-  comm (pid)`, then the count. The process
 * name becomes the root frame (spaces as '_', as in perf stacks). Lines already folded (`-f`) are taken as they are.
 */
export class LibbpfCollapser {
  readonly stacks = new Map<string, number>();
  readonly malformed = new MalformedLines();
  lines = 0;
  private frames: string[] = [];
  private comm: string | undefined;

  line(line: string): void {
    this.lines++;
    if (line.trim() === '') {
      if (this.frames.length > 0) this.malformed.add('(stack without a count)');
      this.reset();
      return;
    }
    const count = countLine.exec(line);
    if (count && (this.frames.length > 0 || this.comm !== undefined)) {
      const root = (this.comm ?? '').replaceAll(' ', '_');
      const frames = [root, ...this.frames.reverse()].filter((frame, i) => i > 0 || frame !== '');
      addStack(this.stacks, frames.join(';'), Number(count[1]));
      this.reset();
      return;
    }
    const process = processLine.exec(line);
    if (process) {
      this.comm = process[1].trim();
      return;
    }
    if (delimiter.test(line)) return;
    const frame = frameLine.exec(line);
    if (frame) {
      this.frames.push(frame[1].replaceAll(';', ':'));
      return;
    }
    const folded = foldedLine.exec(line);
    if (folded) {
      addStack(this.stacks, folded[1], Number(folded[2]));
      return;
    }
    if (!banner.test(line)) this.malformed.add(line);
  }

  end(): void {
    if (this.frames.length > 0) this.malformed.add('(input ended inside a stack)');
  }

  private reset(): void {
    this.frames = [];
    this.comm = undefined;
  }
}

export async function collapseLibbpfTools(
  source: ByteSource,
  options: LibbpfCollapseOptions = {},
): Promise<CollapseResult> {
  const collapser = new LibbpfCollapser();
  return collapseLines(source, collapser, options.signal);
}

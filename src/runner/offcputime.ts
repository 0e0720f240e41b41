import { lineBatches, addStack, type ByteSource, type CollapseResult } from '../profile/index.ts';

const framePattern = /^ {4}(\S.*)$/;
const taskPattern = /^ {4}-\s+(.*) \((\d+)\)$/;
const valuePattern = /^ {8}(\d+)$/;
/** The probe itself sits on top of every off-CPU kernel stack; it says nothing about the traced program. */
const probeFrame = /^(bpf_prog_[0-9a-f]+_|bpf_trace_run\d)/;

/**
 * Folds libbpf-tools offcputime/wakeuptime output (frames leaf first, then `-  comm (pid)`, then microseconds), which
 * Debian 12's version prints without a folded mode: `comm;outermost;...;leaf microseconds`.
 */
export async function collapseOffcputime(source: ByteSource): Promise<CollapseResult> {
  const stacks = new Map<string, number>();
  let frames: string[] = [];
  let comm: string | undefined;
  let lines = 0;
  let malformed = 0;
  const examples: string[] = [];
  for await (const batch of lineBatches(source)) {
    for (const line of batch) {
      lines++;
      const task = taskPattern.exec(line);
      const value = valuePattern.exec(line);
      const frame = framePattern.exec(line);
      if (task) comm = task[1]!;
      else if (value && comm !== undefined) {
        const kept = frames.filter((f) => !probeFrame.test(f) && f !== '--').reverse();
        addStack(
          stacks,
          [comm.replaceAll(';', ':'), ...kept.map((f) => f.replaceAll(';', ':'))].join(';'),
          Number(value[1]),
        );
        frames = [];
        comm = undefined;
      } else if (frame) frames.push(frame[1]!.replace(/\+0x[0-9a-f]+$/, ''));
      else if (line.trim() === '') frames = [];
      else {
        malformed++;
        if (examples.length < 3) examples.push(line.slice(0, 120));
      }
    }
  }
  return { stacks, lines, malformedLines: malformed, malformedExamples: examples };
}

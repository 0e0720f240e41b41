import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { UserSymbolizer } from './usersyms.ts';
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

const verboseFrame = /^ {4}#\d+\s+0x([0-9a-f]+)(?: (.*))?$/;
const kernelSpace = 0xffff800000000000n;

/**
 * Turns `offcputime -v` output (every frame with its address) into the plain format, naming user frames from the
 * traced process's own files (see UserSymbolizer): for a process in another mount namespace our name wins, elsewhere
 * offcputime's; a frame neither can name stays `[unknown]`. Returns how many frames we named that offcputime had not.
 */
export async function symbolizeOffcputime(
  inputPath: string,
  outputPath: string,
  symbolizer: UserSymbolizer,
): Promise<number> {
  const output = createWriteStream(outputPath, { mode: 0o600 });
  const finished = once(output, 'close');
  let recovered = 0;
  let pending: { address: bigint; name: string | undefined }[] = [];
  const flush = async (pid: number | undefined) => {
    const foreign = pid !== undefined && (await symbolizer.foreignMounts(pid));
    for (const frame of pending) {
      let name = frame.name;
      if (frame.address < kernelSpace && pid !== undefined && (foreign || name === undefined)) {
        // Return addresses: the call instruction before them is in the calling function.
        const ours = await symbolizer.symbolize(pid, frame.address - 1n);
        if (ours !== undefined && name === undefined) recovered++;
        name = ours ?? name;
      }
      output.write(`    ${name ?? '[unknown]'}\n`);
    }
    pending = [];
  };
  for await (const line of createInterface({ input: createReadStream(inputPath), crlfDelay: Infinity })) {
    const frame = verboseFrame.exec(line);
    if (frame) {
      const rest = frame[2]?.trim();
      const named = rest && !rest.startsWith('(') && !rest.startsWith('[unknown]');
      pending.push({
        address: BigInt(`0x${frame[1]}`),
        name: named ? rest.split(' ')[0]!.replace(/\+0x[0-9a-f]+$/, '') : undefined,
      });
      continue;
    }
    const task = taskPattern.exec(line);
    await flush(task ? Number(task[2]) : undefined);
    output.write(`${line}\n`);
  }
  await flush(undefined);
  output.end();
  await finished;
  return recovered;
}

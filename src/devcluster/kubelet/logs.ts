import { EventEmitter, once } from 'node:events';
import { closeSync, openSync, writeSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';

import type { PodLogOptions } from '../pod-logs.ts';

/** How much of a log to read and whether to follow it; `pods/log` query parameters plus the request's signal. */
export type ReadLogOptions = Partial<Omit<PodLogOptions, 'container' | 'previous'>> & { signal?: AbortSignal };

// containerd splits lines longer than this into partial (P) records.
const maxRecordBytes = 16 * 1024;

function timestamp(): string {
  const now = new Date().toISOString();
  // RFC 3339 with nanoseconds, as the CRI log format writes it; Date has milliseconds.
  return `${now.slice(0, -1)}000000Z`;
}

/**
 * Writes a container's stdout and stderr in the CRI log format (`<RFC3339Nano> <stream> <P|F> <content>`), the format
 * kubelet reads `pods/log` from: every line keeps its stream and time, so `--timestamps`, `--since` and `--tail` work.
 */
export class CriLogWriter extends EventEmitter {
  readonly path: string;
  #fd: number;
  #open = 0;
  #closed = false;

  constructor(path: string) {
    super();
    this.path = path;
    this.#fd = openSync(path, 'a');
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Copies one output stream until it ends; the log closes when every attached stream has ended. */
  attach(stream: Readable, name: 'stdout' | 'stderr'): void {
    this.#open++;
    let pending: Buffer = Buffer.alloc(0);
    stream.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      for (;;) {
        const newline = pending.indexOf(0x0a);
        if (newline >= 0 && newline <= maxRecordBytes) {
          this.#record(name, 'F', pending.subarray(0, newline));
          pending = pending.subarray(newline + 1);
        } else if (pending.length > maxRecordBytes) {
          this.#record(name, 'P', pending.subarray(0, maxRecordBytes));
          pending = pending.subarray(maxRecordBytes);
        } else break;
      }
      this.emit('append');
    });
    stream.once('close', () => {
      if (pending.length) this.#record(name, 'P', pending);
      if (--this.#open === 0) this.close();
    });
  }

  #record(stream: string, tag: 'P' | 'F', content: Buffer): void {
    if (this.#closed) return;
    writeSync(this.#fd, Buffer.concat([Buffer.from(`${timestamp()} ${stream} ${tag} `), content, Buffer.from('\n')]));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.#fd);
    this.emit('append');
    this.emit('closed');
  }
}

interface LogRecord {
  time: string;
  partial: boolean;
  content: Buffer;
}

function parseRecords(data: Buffer): { records: LogRecord[]; consumed: number } {
  const records: LogRecord[] = [];
  let start = 0;
  for (;;) {
    const end = data.indexOf(0x0a, start);
    if (end < 0) break;
    const line = data.subarray(start, end);
    start = end + 1;
    const first = line.indexOf(0x20);
    const second = line.indexOf(0x20, first + 1);
    const third = line.indexOf(0x20, second + 1);
    if (first < 0 || second < 0 || third < 0) continue;
    records.push({
      time: line.subarray(0, first).toString(),
      partial: line.subarray(second + 1, third).toString() === 'P',
      content: line.subarray(third + 1),
    });
  }
  return { records, consumed: start };
}

function format(record: LogRecord, timestamps: boolean): Buffer {
  const parts = [record.content];
  if (timestamps) parts.unshift(Buffer.from(`${record.time} `));
  if (!record.partial) parts.push(Buffer.from('\n'));
  return Buffer.concat(parts);
}

/** A CRI log file's content as the container wrote it, without times and stream names. */
export function criLogText(data: Buffer): string {
  return Buffer.concat(parseRecords(data).records.map((r) => format(r, false))).toString('utf8');
}

/** The last `tailLines` whole lines (a line being partial records up to a full one). */
function tail(records: LogRecord[], tailLines: number): LogRecord[] {
  if (tailLines <= 0) return [];
  let lines = 0;
  for (let i = records.length - 1; i >= 0; i--) {
    if (!records[i].partial || i === records.length - 1) {
      if (++lines > tailLines) return records.slice(i + 1);
    }
  }
  return records;
}

/**
 * Streams a container's CRI log file as `kubectl logs` prints it. With `follow`, it keeps reading what `writer`
 * appends until the writer closes (the container exited) or the signal aborts.
 */
export function readContainerLog(path: string, options: ReadLogOptions, writer?: CriLogWriter): Readable {
  const since = options.sinceTime
    ? Date.parse(options.sinceTime)
    : options.sinceSeconds !== undefined
      ? Date.now() - options.sinceSeconds * 1000
      : undefined;
  const timestamps = options.timestamps ?? false;
  let budget = options.limitBytes ?? Infinity;

  async function* generate(): AsyncGenerator<Buffer> {
    const select = (records: LogRecord[]) =>
      since === undefined ? records : records.filter((r) => Date.parse(r.time) >= since);
    const emit = function* (records: LogRecord[]) {
      for (const record of records) {
        if (budget <= 0) return;
        let out = format(record, timestamps);
        if (out.length > budget) out = out.subarray(0, budget);
        budget -= out.length;
        yield out;
      }
    };
    const initial = await readFile(path).catch(() => Buffer.alloc(0));
    const { records, consumed } = parseRecords(initial);
    const chosen = select(records);
    yield* emit(options.tailLines === undefined ? chosen : tail(chosen, options.tailLines));
    if (!options.follow || !writer) return;

    let offset = consumed;
    const handle = await open(path, 'r');
    try {
      for (;;) {
        if (budget <= 0 || options.signal?.aborted) return;
        const wasClosed = writer.closed;
        const { size } = await handle.stat();
        if (size > offset) {
          const chunk = Buffer.alloc(size - offset);
          const { bytesRead } = await handle.read(chunk, 0, chunk.length, offset);
          const parsed = parseRecords(chunk.subarray(0, bytesRead));
          offset += parsed.consumed;
          yield* emit(select(parsed.records));
          continue;
        }
        if (wasClosed) return;
        await Promise.race([
          once(writer, 'append', { signal: options.signal }).catch(() => undefined),
          new Promise((resolve) => setTimeout(resolve, 1000).unref()),
        ]);
      }
    } finally {
      await handle.close();
    }
  }
  return Readable.from(generate(), { objectMode: false });
}

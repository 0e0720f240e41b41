import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

/** Input that cannot be profile text at all (binary data, a perf.data file): the caller should say so and stop. */
export class ProfileInputError extends Error {
  override name = 'ProfileInputError';
}

export interface LineSourceOptions {
  signal?: AbortSignal;
  /**
   * Longest line kept; longer ones are dropped and reported through `onOversizedLine`, so a file without newlines
   * cannot make memory grow with the input.
   */
  maxLineLength?: number;
  onOversizedLine?: () => void;
}

/** Anything that yields byte chunks: a Readable stream, a file handle's stream, or an async generator in tests. */
export type ByteSource = Readable | AsyncIterable<Uint8Array | string>;

const gzipMagic = [0x1f, 0x8b];
const sniffBytes = 8192;
export const defaultMaxLineLength = 16 * 1024 * 1024;

/**
 * A file's bytes, read into one buffer that is reused: a stream allocates (and the kernel maps) a fresh buffer per
 * chunk, which cost more than the reads themselves on large inputs. Each chunk is valid only until the next one is
 * asked for; the readers here copy whatever they keep, so hand this only to them.
 */
export async function* fileChunks(path: string): AsyncGenerator<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) return;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

/**
 * Yields the input in chunks that end at a line boundary (the last one may lack its newline). Gzip input is
 * recognised by its magic bytes and decompressed on the fly. A line longer than `maxLineLength` that spans chunks is
 * dropped as it streams and reported, so memory stays bounded whatever the input.
 */
export async function* lineChunks(source: ByteSource, options: LineSourceOptions = {}): AsyncGenerator<Buffer> {
  const maxLineLength = options.maxLineLength ?? defaultMaxLineLength;
  let carry: Buffer = Buffer.alloc(0);
  let discarding = false;
  for await (const chunk of decompressed(source, options.signal)) {
    let body = chunk;
    if (discarding || carry.length > 0) {
      const first = chunk.indexOf(0x0a);
      if (first < 0) {
        if (!discarding) carry = Buffer.concat([carry, chunk]);
        if (carry.length > maxLineLength) {
          carry = Buffer.alloc(0);
          options.onOversizedLine?.();
          discarding = true;
        }
        continue;
      }
      // Only the line that spans chunks is copied; the rest of the chunk is passed on as it is.
      if (discarding) discarding = false;
      else yield Buffer.concat([carry, chunk.subarray(0, first + 1)]);
      body = chunk.subarray(first + 1);
    }
    const end = body.lastIndexOf(0x0a);
    if (end >= 0) yield body.subarray(0, end + 1);
    carry = Buffer.from(body.subarray(end + 1));
    if (carry.length > maxLineLength) {
      carry = Buffer.alloc(0);
      options.onOversizedLine?.();
      discarding = true;
    }
  }
  if (carry.length > 0 && !discarding) yield carry;
}

/**
 * The input's lines in batches, one batch per chunk, without their terminators. Batching keeps the per-line cost to
 * a function call instead of an await. Decoding up to a newline needs no streaming decoder: a newline byte never
 * sits inside a UTF-8 sequence.
 */
export async function* lineBatches(source: ByteSource, options: LineSourceOptions = {}): AsyncGenerator<string[]> {
  const maxLineLength = options.maxLineLength ?? defaultMaxLineLength;
  for await (const chunk of lineChunks(source, options)) {
    const text = chunk.toString('utf8', 0, chunk[chunk.length - 1] === 0x0a ? chunk.length - 1 : chunk.length);
    const lines = text.split('\n');
    let kept = lines;
    if (lines.some((line) => line.length > maxLineLength)) {
      kept = lines.filter((line) => line.length <= maxLineLength);
      for (let i = kept.length; i < lines.length; i++) options.onOversizedLine?.();
    }
    yield kept;
  }
}

async function* decompressed(source: ByteSource, signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
  const iterator = chunks(source)[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  // Gather enough bytes to recognise the format before committing to one.
  while (head.length < sniffBytes) {
    signal?.throwIfAborted();
    const next = await iterator.next();
    if (next.done) break;
    head = Buffer.concat([head, next.value]);
  }
  const rest: AsyncIterable<Buffer> = {
    [Symbol.asyncIterator]: () => iterator,
  };
  if (head.length >= 2 && head[0] === gzipMagic[0] && head[1] === gzipMagic[1]) {
    const gunzip = createGunzip();
    const feed = (async () => {
      try {
        if (!gunzip.write(head)) await onceDrained(gunzip);
        for await (const chunk of rest) {
          signal?.throwIfAborted();
          // zlib holds on to what it is given, and a file source reuses its buffer.
          if (!gunzip.write(Buffer.from(chunk))) await onceDrained(gunzip);
        }
        gunzip.end();
      } catch (err) {
        gunzip.destroy(err as Error);
      }
    })();
    let first = true;
    try {
      for await (const chunk of gunzip as AsyncIterable<Buffer>) {
        signal?.throwIfAborted();
        if (first) {
          checkText(chunk);
          first = false;
        }
        yield chunk;
      }
    } catch (err) {
      if (err instanceof ProfileInputError) throw err;
      throw new ProfileInputError(`input starts like gzip but does not decompress: ${(err as Error).message}`);
    } finally {
      gunzip.destroy();
      await feed;
    }
    return;
  }
  checkText(head);
  if (head.length > 0) yield head;
  for await (const chunk of rest) {
    signal?.throwIfAborted();
    yield chunk;
  }
}

async function* chunks(source: ByteSource): AsyncGenerator<Buffer> {
  for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
    yield typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
  }
}

function onceDrained(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => stream.once('drain', () => resolve()));
}

/**
 * Text profiles never contain NUL bytes and rarely other C0 controls; binary files (perf.data, ELF, images) are full
 * of them. Refusing early gives a clear message instead of a flood of "malformed line" counts.
 */
function checkText(head: Buffer): void {
  const sample = head.subarray(0, sniffBytes);
  if (sample.subarray(0, 8).toString('latin1') === 'PERFILE2') {
    throw new ProfileInputError(
      'input is a perf.data file, not text; convert it first with `perf script -i perf.data` and collapse that',
    );
  }
  let control = 0;
  for (const byte of sample) {
    if (byte === 0) throw new ProfileInputError('input is binary (it contains NUL bytes), not profile text');
    if (byte < 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d && byte !== 0x0c && byte !== 0x0b) control++;
  }
  if (sample.length > 0 && control / sample.length > 0.01) {
    throw new ProfileInputError(
      `input is binary (${control} control bytes in its first ${sample.length}), not profile text`,
    );
  }
}

import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

const TYPES: [suffix: string, type: string][] = [
  ['.svg', 'image/svg+xml'],
  ['.json', 'application/json'],
  ['.html', 'text/html; charset=utf-8'],
  ['.csv', 'text/csv; charset=utf-8'],
  ['.txt', 'text/plain; charset=utf-8'],
  ['.folded', 'text/plain; charset=utf-8'],
  ['.log', 'text/plain; charset=utf-8'],
  ['.pb.gz', 'application/octet-stream'],
  ['.gz', 'application/gzip'],
];

/** The Content-Type a browser needs to open the artifact well (an SVG flame graph stays interactive). */
export function contentTypeFor(key: string): string {
  const lower = key.toLowerCase();
  return TYPES.find(([suffix]) => lower.endsWith(suffix))?.[1] ?? 'application/octet-stream';
}

function isText(contentType: string): boolean {
  const type = contentType.split(';')[0]!.trim();
  return type.startsWith('text/') || type === 'application/json' || type === 'image/svg+xml';
}

const GZIP_THRESHOLD_BYTES = 256 * 1024;

/**
 * Whether to gzip when the caller did not say: text at least 256 KiB, since folded stacks shrink ~10x. A stream's
 * size is unknown until it has been read, so streams are stored as given.
 */
export function gzipByDefault(contentType: string, sizeBytes: number | undefined): boolean {
  return sizeBytes !== undefined && sizeBytes >= GZIP_THRESHOLD_BYTES && isText(contentType);
}

/** Passes bytes through unchanged while counting them and hashing them with SHA-256. */
export class Digest extends Transform {
  #hash = createHash('sha256');
  sizeBytes = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk);
    this.sizeBytes += chunk.length;
    callback(null, chunk);
  }
  /** Only valid once the stream has finished. */
  sha256(): string {
    return this.#hash.copy().digest('hex');
  }
}

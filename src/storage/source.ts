import { open, type FileHandle } from 'node:fs/promises';
import type { Readable, Stream } from 'node:stream';
import { StorageError, isAbortError } from './errors.ts';
import type { PutRequest } from './index.ts';

/** The bytes of one artifact, and a way to tell whether a failure was theirs rather than the destination's. */
export interface Source {
  stream: Readable;
  /** Known for files; lets small text skip gzip. */
  sizeBytes?: number;
  /**
   * Call with the stages the source feeds. A pipeline re-emits the first error on every stage, so the first stage
   * to report one is where it happened; `failure()` then says whether that was the source.
   */
  watch(downstream: Stream[]): void;
  failure(): StorageError | undefined;
}

/** Opens the artifact to store; a file that cannot be read is the producer's fault, reported as SourceUnreadable. */
export async function openSource(request: PutRequest): Promise<Source> {
  if ((request.filePath === undefined) === (request.stream === undefined)) {
    throw new StorageError('InvalidRequest', `put ${request.key}: exactly one of filePath and stream must be given`);
  }
  if (request.stream !== undefined) return watched(request.stream, undefined, `the stream for ${request.key}`);
  const path = request.filePath!;
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new StorageError('SourceUnreadable', `cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  const { size } = await handle.stat();
  return watched(handle.createReadStream(), size, path);
}

function watched(stream: Readable, sizeBytes: number | undefined, name: string): Source {
  let first: { origin: 'source' | 'downstream'; error: Error } | undefined;
  stream.once('error', (error) => (first ??= { origin: 'source', error }));
  return {
    stream,
    sizeBytes,
    watch(downstream) {
      for (const stage of downstream)
        stage.once('error', (error: Error) => (first ??= { origin: 'downstream', error }));
    },
    failure() {
      if (first?.origin !== 'source' || isAbortError(first.error)) return undefined;
      return new StorageError('SourceUnreadable', `reading ${name} failed: ${first.error.message}`, {
        cause: first.error,
      });
    },
  };
}

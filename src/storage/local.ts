import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createGzip } from 'node:zlib';
import type { Logger } from '../log.ts';
import type { LocalSinkConfig } from './config.ts';
import { Digest, contentTypeFor, gzipByDefault } from './content.ts';
import { StorageError, isAbortError } from './errors.ts';
import { checkDeletePrefix, checkObjectKey } from './layout.ts';
import { openSource } from './source.ts';
import type { ArtifactSink, PresignedUrl, PutRequest, StoredArtifact, VerifyResult } from './index.ts';

const FILE_MODE = 0o640;
const DIRECTORY_MODE = 0o750;

/**
 * Results as files under one directory, addressed by `file://` URIs. Each file appears complete or not at all
 * (written to a temporary name in the same directory, synced, then renamed), and nothing outside the directory can
 * be reached: keys are checked segment by segment and no segment may be a symbolic link.
 */
export class LocalSink implements ArtifactSink {
  readonly type = 'local';
  readonly #root: string;
  readonly #logger: Logger;

  constructor(config: LocalSinkConfig, options: { logger: Logger }) {
    this.#root = config.directory.length > 1 ? config.directory.replace(/\/$/, '') : config.directory;
    this.#logger = options.logger;
  }

  async put(request: PutRequest, signal?: AbortSignal): Promise<StoredArtifact> {
    const key = validKey(request.key);
    const source = await openSource(request);
    const contentType = request.contentType ?? contentTypeFor(key);
    const gzip = request.gzip ?? gzipByDefault(contentType, source.sizeBytes);
    const relative = gzip ? `${key}.gz` : key;
    let directory: string;
    try {
      directory = await this.#ensureDirectory(dirname(relative));
    } catch (error) {
      source.stream.destroy();
      throw this.#classify(error, relative, 0);
    }
    const finalPath = join(directory, relative.slice(relative.lastIndexOf('/') + 1));
    // Independent of the name's length, so any name that fits also fits while being written.
    const temporary = join(directory, `.tracejob-${randomUUID()}.tmp`);
    const digest = new Digest();
    // `flush` fsyncs before close, so the rename below can only publish complete contents.
    const sink = createWriteStream(temporary, { flags: 'wx', mode: FILE_MODE, flush: true });
    const gzipper = gzip ? createGzip() : undefined;
    source.watch([...(gzipper ? [gzipper] : []), digest, sink]);
    try {
      await (gzipper
        ? pipeline(source.stream, gzipper, digest, sink, { signal })
        : pipeline(source.stream, digest, sink, { signal }));
      await chmod(temporary, FILE_MODE);
      await rename(temporary, finalPath);
      await syncDirectory(directory);
    } catch (error) {
      source.stream.destroy();
      sink.destroy();
      if (!sink.closed) await once(sink, 'close');
      await unlink(temporary).catch(() => undefined);
      const sourceFailure = source.failure();
      if (sourceFailure) throw sourceFailure;
      if (signal?.aborted || isAbortError(error)) {
        throw new StorageError('Aborted', `storing ${relative} was cancelled; the partial file was removed`);
      }
      throw this.#classify(error, relative, digest.sizeBytes);
    }
    const stored: StoredArtifact = {
      uri: pathToFileURL(finalPath).href,
      sizeBytes: digest.sizeBytes,
      sha256: digest.sha256(),
      contentType,
      ...(gzip ? { contentEncoding: 'gzip' as const } : {}),
    };
    this.#logger.debug('stored artifact', { uri: stored.uri, sizeBytes: stored.sizeBytes });
    return stored;
  }

  async presign(): Promise<PresignedUrl | undefined> {
    return undefined;
  }

  async deletePrefix(prefix: string): Promise<number> {
    let checked: string;
    try {
      checked = checkDeletePrefix(prefix).slice(0, -1);
    } catch (error) {
      throw new StorageError('InvalidRequest', (error as Error).message, { cause: error });
    }
    const target = join(this.#root, checked);
    try {
      await this.#assertNoLinks(checked);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw this.#classify(error, checked, 0);
    }
    const count = await countFiles(target);
    await rm(target, { recursive: true, force: true });
    return count;
  }

  async verify(uri: string, sha256: string, signal?: AbortSignal): Promise<VerifyResult> {
    const path = this.#pathOf(uri);
    const digest = new Digest();
    try {
      await pipeline(
        createReadStream(path),
        digest,
        async (chunks: AsyncIterable<Buffer>) => {
          for await (const _ of chunks);
        },
        { signal },
      );
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new StorageError('NotFound', `${uri} does not exist`);
      }
      throw this.#classify(error, path, 0);
    }
    const actual = digest.sha256();
    return { matches: actual === sha256, sizeBytes: digest.sizeBytes, sha256: actual };
  }

  /** The path a URI names, refusing anything that is not a file under this sink's directory. */
  #pathOf(uri: string): string {
    let path: string;
    try {
      path = fileURLToPath(uri);
    } catch {
      throw new StorageError('InvalidRequest', `uri: ${JSON.stringify(uri)} is not a file:// URI`);
    }
    const rootWithSep = this.#root.endsWith(sep) ? this.#root : this.#root + sep;
    if (!path.startsWith(rootWithSep)) {
      throw new StorageError('InvalidRequest', `uri: ${uri} is outside the results directory ${this.#root}`);
    }
    validKey(path.slice(rootWithSep.length));
    return path;
  }

  /** Creates the key's directories with 0750, refusing to follow a symbolic link anywhere below the root. */
  async #ensureDirectory(relativeDir: string): Promise<string> {
    await mkdirWithMode(this.#root);
    let current = this.#root;
    for (const segment of relativeDir === '.' ? [] : relativeDir.split('/')) {
      current = join(current, segment);
      await mkdirWithMode(current);
      const info = await lstat(current);
      if (!info.isDirectory()) {
        throw new StorageError(
          'InvalidRequest',
          `${current} is not a directory (a symbolic link or file is in the way)`,
        );
      }
    }
    return current;
  }

  async #assertNoLinks(relative: string): Promise<void> {
    let current = this.#root;
    for (const segment of relative.split('/')) {
      current = join(current, segment);
      if ((await lstat(current)).isSymbolicLink()) {
        throw new StorageError('InvalidRequest', `${current} is a symbolic link; refusing to follow it`);
      }
    }
  }

  #classify(error: unknown, relative: string, written: number): StorageError {
    if (error instanceof StorageError) return error;
    const code = (error as NodeJS.ErrnoException).code;
    const detail = error instanceof Error ? error.message : String(error);
    switch (code) {
      case 'ENOSPC':
      case 'EDQUOT':
        return new StorageError(
          'DiskFull',
          `no space left under ${this.#root} while storing ${relative} (${written} bytes written); the partial file was removed`,
          { cause: error },
        );
      case 'ENAMETOOLONG':
        return new StorageError('InvalidRequest', `${relative}: a name is too long for the file system`, {
          cause: error,
        });
      case 'EACCES':
      case 'EPERM':
      case 'EROFS':
        return new StorageError('AccessDenied', `cannot write ${relative} under ${this.#root}: ${detail}`, {
          cause: error,
        });
      default:
        return new StorageError('Unavailable', `storing ${relative} under ${this.#root} failed: ${detail}`, {
          cause: error,
        });
    }
  }
}

function validKey(key: string): string {
  try {
    return checkObjectKey(key);
  } catch (error) {
    throw new StorageError('InvalidRequest', (error as Error).message, { cause: error });
  }
}

async function mkdirWithMode(path: string): Promise<void> {
  try {
    await mkdir(path, { mode: DIRECTORY_MODE });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw error;
  }
  // mkdir's mode is filtered by the umask; the result directory's mode is part of the contract.
  await chmod(path, DIRECTORY_MODE);
}

async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function countFiles(path: string): Promise<number> {
  let info;
  try {
    info = await stat(path);
  } catch {
    return 0;
  }
  if (!info.isDirectory()) return 1;
  const entries = await readdir(path, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).length;
}

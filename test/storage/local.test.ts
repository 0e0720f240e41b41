import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { createSink, objectKey, StorageError, type ArtifactSink } from '../../src/storage/index.ts';
import { needs } from '../support/requirements.ts';
import { sha256 } from './support.ts';

let work: string;
let root: string;
let outside: string;
let sink: ArtifactSink;

function key(artifact: string, traceJob = 'web-profile'): string {
  return objectKey({ namespace: 'shop', traceJob, uid: 'a1b2-c3', node: 'node-1', artifact });
}

async function rejectsWith(promise: Promise<unknown>, code: StorageError['code']): Promise<StorageError> {
  const error = await promise.then(
    () => assert.fail(`expected StorageError ${code}, but it succeeded`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof StorageError, `expected StorageError, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  return error;
}

async function filesUnder(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { recursive: true, withFileTypes: true });
  return entries.filter((e) => !e.isDirectory()).map((e) => join(e.parentPath, e.name));
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'tracejob-local-sink-'));
  root = join(work, 'results');
  outside = join(work, 'outside');
  await mkdir(outside);
  sink = createSink({ type: 'local', directory: root });
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('storing', () => {
  test('stores a file under the object layout with a file:// URI, its checksum, 0640 files and 0750 directories', async () => {
    const previous = process.umask(0o000);
    try {
      const source = join(work, 'flame.svg');
      await writeFile(source, '<svg xmlns="http://www.w3.org/2000/svg"/>');
      const stored = await sink.put({ key: key('flame.svg'), filePath: source });
      const path = join(root, 'shop/web-profile/a1b2-c3/node-1/flame.svg');
      assert.equal(stored.uri, pathToFileURL(path).href);
      assert.equal(stored.contentType, 'image/svg+xml');
      const bytes = await readFile(path);
      assert.equal(stored.sha256, sha256(bytes));
      assert.equal(stored.sizeBytes, bytes.length);
      assert.equal((await stat(path)).mode & 0o777, 0o640);
      for (const dir of [
        '',
        'shop',
        'shop/web-profile',
        'shop/web-profile/a1b2-c3',
        'shop/web-profile/a1b2-c3/node-1',
      ]) {
        assert.equal((await stat(join(root, dir))).mode & 0o777, 0o750, `${root}/${dir}`);
      }
    } finally {
      process.umask(previous);
    }
  });

  test('an empty file is stored as an empty file', async () => {
    const empty = join(work, 'empty.txt');
    await writeFile(empty, '');
    const stored = await sink.put({ key: key('empty.txt'), filePath: empty });
    assert.equal(stored.sizeBytes, 0);
    assert.equal((await stat(fileURLToPath(stored.uri))).size, 0);
  });

  test('the longest names Kubernetes allows still fit the file system, gzipped', async () => {
    const longest = objectKey({
      namespace: 'n'.repeat(63),
      traceJob: 't'.repeat(253),
      uid: 'a1b2-c3',
      node: 'm'.repeat(253),
      artifact: `${'s'.repeat(193)}.folded`,
    });
    const stored = await sink.put({ key: longest, stream: Readable.from(['main;x 1\n']), gzip: true });
    assert.match(stored.uri, /\.folded\.gz$/);
    assert.throws(
      () => objectKey({ namespace: 'n', traceJob: 't', uid: 'u', node: 'm', artifact: 's'.repeat(201) }),
      /artifact/,
    );
  });

  test('a restrictive umask does not change the modes either', async () => {
    const previous = process.umask(0o077);
    try {
      const stored = await sink.put({ key: key('umask.txt', 'umask-job'), stream: Readable.from(['x']) });
      assert.equal((await stat(fileURLToPath(stored.uri))).mode & 0o777, 0o640);
      assert.equal((await stat(join(root, 'shop/umask-job'))).mode & 0o777, 0o750);
    } finally {
      process.umask(previous);
    }
  });

  test('replacing an artifact is atomic and leaves no temporary files', async () => {
    const first = await sink.put({ key: key('summary.json', 'again'), stream: Readable.from(['{"a":1}']) });
    const second = await sink.put({ key: key('summary.json', 'again'), stream: Readable.from(['{"a":2}']) });
    assert.equal(first.uri, second.uri);
    assert.equal(await readFile(fileURLToPath(second.uri), 'utf8'), '{"a":2}');
    const names = await readdir(join(root, 'shop/again/a1b2-c3/node-1'));
    assert.deepEqual(names, ['summary.json']);
  });

  test('large text is gzipped into name.gz, and sha256 describes the stored bytes', async () => {
    const source = join(work, 'stacks.folded');
    const text = 'main;work;spin 1\n'.repeat(20000);
    await writeFile(source, text);
    const stored = await sink.put({ key: key('stacks.folded'), filePath: source });
    assert.equal(stored.contentEncoding, 'gzip');
    assert.match(stored.uri, /\/stacks\.folded\.gz$/);
    const bytes = await readFile(fileURLToPath(stored.uri));
    assert.equal(stored.sha256, sha256(bytes));
    assert.equal(gunzipSync(bytes).toString(), text);
  });

  test('an unreadable source is reported as the source, not the sink, failing', async () => {
    const error = await rejectsWith(
      sink.put({ key: key('gone.txt'), filePath: join(work, 'does-not-exist') }),
      'SourceUnreadable',
    );
    assert.match(error.message, /does-not-exist/);
  });

  test('a stream that fails mid-way is blamed, and its partial file removed', async () => {
    let sent = false;
    const stream = new Readable({
      read() {
        if (sent) this.destroy(new Error('tracer output truncated'));
        else this.push(randomBytes(1024));
        sent = true;
      },
    });
    const error = await rejectsWith(sink.put({ key: key('broken.bin', 'broken-job'), stream }), 'SourceUnreadable');
    assert.match(error.message, /tracer output truncated/);
    assert.deepEqual(await filesUnder(join(root, 'shop/broken-job')), []);
  });

  test('cancelling removes the partial file', async () => {
    const controller = new AbortController();
    const stream = new Readable({
      read() {
        this.push(randomBytes(64 * 1024));
        controller.abort();
      },
    });
    await rejectsWith(sink.put({ key: key('cancelled.bin', 'cancel-job'), stream }, controller.signal), 'Aborted');
    assert.deepEqual(await filesUnder(join(root, 'shop/cancel-job')), []);
  });
});

describe('names that try to leave the directory', () => {
  const hostile = [
    '../escape.txt',
    'shop/../../escape.txt',
    '/etc/passwd',
    'shop//x.txt',
    'shop/./x.txt',
    'shop/.hidden',
    'shop\\..\\escape.txt',
    'shop/x.txt/',
    'shop/%2e%2e/x.txt',
    'shop/x\0.txt',
    '',
  ];
  for (const name of hostile) {
    test(`refuses key ${JSON.stringify(name)}`, async () => {
      await rejectsWith(sink.put({ key: name, stream: Readable.from(['x']) }), 'InvalidRequest');
      assert.deepEqual(await filesUnder(outside), []);
      assert.ok(!(await readdir(work)).includes('escape.txt'));
    });
  }

  test('objectKey refuses traversal in any component', () => {
    for (const field of ['namespace', 'traceJob', 'uid', 'node', 'artifact'] as const) {
      const coordinates = { namespace: 'shop', traceJob: 'job', uid: 'u1', node: 'n1', artifact: 'a.svg' };
      for (const bad of ['..', '.', 'a/b', '../x', '']) {
        assert.throws(() => objectKey({ ...coordinates, [field]: bad }), new RegExp(`^ObjectKeyError: ${field}:`));
      }
    }
  });

  test('a symbolic link inside the directory is not followed', async () => {
    await mkdir(root, { recursive: true });
    await symlink(outside, join(root, 'linked'));
    await rejectsWith(sink.put({ key: 'linked/x.txt', stream: Readable.from(['x']) }), 'InvalidRequest');
    await rejectsWith(sink.deletePrefix('linked/'), 'InvalidRequest');
    assert.deepEqual(await filesUnder(outside), []);
  });

  test('verify refuses URIs outside the directory', async () => {
    await writeFile(join(outside, 'secret'), 'x');
    await rejectsWith(sink.verify(pathToFileURL(join(outside, 'secret')).href, 'x'), 'InvalidRequest');
    await rejectsWith(sink.verify(`file://${root}/../outside/secret`, 'x'), 'InvalidRequest');
    await rejectsWith(sink.verify('s3://bucket/x', 'x'), 'InvalidRequest');
  });
});

describe('verify and deletePrefix', () => {
  test('verify detects a changed file and reports a missing one as NotFound', async () => {
    const stored = await sink.put({ key: key('v.txt', 'verify-job'), stream: Readable.from(['original']) });
    assert.equal((await sink.verify(stored.uri, stored.sha256)).matches, true);
    await writeFile(fileURLToPath(stored.uri), 'tampered');
    assert.equal((await sink.verify(stored.uri, stored.sha256)).matches, false);
    await rejectsWith(sink.verify(pathToFileURL(join(root, key('missing.txt'))).href, stored.sha256), 'NotFound');
  });

  test("deletePrefix removes one TraceJob's files and nothing else", async () => {
    for (const artifact of ['a.txt', 'b.txt']) {
      await sink.put({ key: key(artifact, 'doomed'), stream: Readable.from(['x']) });
    }
    const kept = await sink.put({ key: key('a.txt', 'doomed-not'), stream: Readable.from(['x']) });
    assert.equal(await sink.deletePrefix('shop/doomed/a1b2-c3/'), 2);
    assert.deepEqual(await filesUnder(join(root, 'shop/doomed')), []);
    assert.equal((await stat(fileURLToPath(kept.uri))).isFile(), true);
    assert.equal(await sink.deletePrefix('shop/doomed/a1b2-c3/'), 0);
    await rejectsWith(sink.deletePrefix('/'), 'InvalidRequest');
    await rejectsWith(sink.deletePrefix('shop/../..'), 'InvalidRequest');
  });
});

describe('a full disk', () => {
  test(
    'is reported as DiskFull with the partial file removed, and the space is usable again',
    needs('root'),
    async (t) => {
      const mountpoint = join(work, 'small-fs');
      await mkdir(mountpoint);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0750', 'tracejob-test', mountpoint]);
      t.after(() => execFileSync('umount', [mountpoint]));
      const small = createSink({ type: 'local', directory: join(mountpoint, 'results') });
      const big = join(work, 'perf.data');
      await writeFile(big, randomBytes(3 * 1024 * 1024));
      const error = await rejectsWith(small.put({ key: key('perf.data'), filePath: big }), 'DiskFull');
      assert.equal(error.retryable, false);
      assert.match(
        error.message,
        /no space left under .*small-fs\/results while storing shop\/web-profile\/.*perf\.data/,
      );
      assert.match(error.message, /partial file was removed/);
      assert.deepEqual(await filesUnder(mountpoint), []);
      const after = await small.put({ key: key('summary.json'), stream: Readable.from([randomBytes(512 * 1024)]) });
      assert.equal((await stat(fileURLToPath(after.uri))).size, 512 * 1024);
    },
  );
});

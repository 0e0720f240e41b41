import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, beforeEach, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import winston from 'winston';
import { createSink, objectKey, StorageError, type ArtifactSink, type SinkOptions } from '../../src/storage/index.ts';
import {
  ACCESS_KEY_ID,
  CREDENTIALS_ENV,
  SECRET_ACCESS_KEY,
  closedPort,
  sha256,
  sha256OfFile,
  startFaultProxy,
  startS3rver,
  type FaultProxy,
} from './support.ts';

const BUCKET = 'traces';
const MiB = 1024 * 1024;
const FAST_RETRY = { attempts: 4, baseDelayMs: 20, maxDelayMs: 200 };

let s3rver: Awaited<ReturnType<typeof startS3rver>>;
let proxy: FaultProxy;
let work: string;
let bigFile: string;
let bigSha: string;
let smallFile: string;
let raw: S3Client;

function sinkVia(endpoint: string, overrides: Record<string, unknown> = {}, options: SinkOptions = {}): ArtifactSink {
  return createSink(
    {
      type: 's3',
      endpoint,
      region: 'us-east-1',
      bucket: BUCKET,
      forcePathStyle: true,
      prefix: 'results',
      ...overrides,
    },
    { env: CREDENTIALS_ENV, retry: FAST_RETRY, partSizeBytes: 5 * MiB, idleTimeoutMs: 1000, ...options },
  );
}

function key(artifact: string, traceJob = 'web-profile'): string {
  return objectKey({ prefix: 'results', namespace: 'shop', traceJob, uid: 'a1b2-c3', node: 'node-1', artifact });
}

/** Reads an object with a client of its own, so the check does not trust the code under test. */
async function download(
  objectKeyName: string,
): Promise<{ body: Buffer; contentType?: string; contentEncoding?: string }> {
  const object = await raw.send(new GetObjectCommand({ Bucket: BUCKET, Key: objectKeyName }));
  return {
    body: Buffer.from(await object.Body!.transformToByteArray()),
    contentType: object.ContentType,
    contentEncoding: object.ContentEncoding,
  };
}

async function exists(objectKeyName: string): Promise<boolean> {
  try {
    await raw.send(new HeadObjectCommand({ Bucket: BUCKET, Key: objectKeyName }));
    return true;
  } catch {
    return false;
  }
}

function orphanUploads(): string[] {
  return [...proxy.createdUploads].filter((id) => !proxy.completedUploads.has(id) && !proxy.abortedUploads.has(id));
}

function noOrphanUploads(): void {
  assert.deepEqual(orphanUploads(), [], 'multipart uploads neither completed nor aborted');
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

before(async () => {
  s3rver = await startS3rver([BUCKET]);
  proxy = await startFaultProxy(s3rver.endpoint);
  work = await mkdtemp(join(tmpdir(), 'tracejob-s3-test-'));
  bigFile = join(work, 'perf.data');
  await writeFile(bigFile, randomBytes(12 * MiB));
  bigSha = await sha256OfFile(bigFile);
  smallFile = join(work, 'small.txt');
  await writeFile(smallFile, 'hot frame\n');
  raw = new S3Client({
    endpoint: s3rver.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
});

after(async () => {
  raw?.destroy();
  await proxy?.close();
  await s3rver?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

beforeEach(() => {
  proxy.setFault(() => ({ kind: 'pass' }));
  proxy.requests.length = 0;
});

describe('uploads', () => {
  test('a small file is stored in one PUT with its content type, and the checksum matches the downloaded bytes', async () => {
    const svg = join(work, 'flame.svg');
    await writeFile(svg, '<svg xmlns="http://www.w3.org/2000/svg"><script>1</script></svg>');
    const stored = await sinkVia(proxy.endpoint).put({ key: key('flame.svg'), filePath: svg });
    assert.equal(stored.uri, `s3://${BUCKET}/results/shop/web-profile/a1b2-c3/node-1/flame.svg`);
    assert.deepEqual(
      proxy.requests.map((r) => r.operation),
      ['put-object', 'head'],
    );
    const object = await download(key('flame.svg'));
    assert.equal(object.contentType, 'image/svg+xml');
    assert.equal(stored.sha256, sha256(object.body));
    assert.equal(stored.sha256, await sha256OfFile(svg));
    assert.equal(stored.sizeBytes, object.body.length);
  });

  test('a file larger than a part goes up as a multipart upload and arrives intact', async () => {
    const stored = await sinkVia(proxy.endpoint).put({ key: key('perf.data'), filePath: bigFile });
    const operations = proxy.requests.map((r) => r.operation);
    assert.equal(operations.filter((o) => o === 'create-multipart').length, 1);
    assert.equal(operations.filter((o) => o === 'upload-part').length, 3);
    assert.equal(operations.filter((o) => o === 'complete-multipart').length, 1);
    const object = await download(key('perf.data'));
    assert.equal(sha256(object.body), bigSha);
    assert.equal(stored.sha256, bigSha);
    assert.equal(stored.sizeBytes, 12 * MiB);
    noOrphanUploads();
  });

  test('large text is stored gzipped with Content-Encoding, and sha256/size describe the stored bytes', async () => {
    const folded = join(work, 'stacks.folded');
    const lines = Array.from({ length: 8000 }, (_, i) => `main;serve;handler_${i % 97};compute_${i % 13} ${i}\n`);
    await writeFile(folded, lines.join(''));
    const stored = await sinkVia(proxy.endpoint).put({ key: key('stacks.folded'), filePath: folded });
    assert.equal(stored.contentEncoding, 'gzip');
    const object = await download(key('stacks.folded'));
    assert.equal(object.contentEncoding, 'gzip');
    assert.equal(object.contentType, 'text/plain; charset=utf-8');
    assert.equal(stored.sha256, sha256(object.body));
    assert.equal(stored.sizeBytes, object.body.length);
    assert.equal(gunzipSync(object.body).toString(), lines.join(''));
    assert.ok(
      stored.sizeBytes < lines.join('').length / 4,
      `gzip should shrink folded stacks, got ${stored.sizeBytes}`,
    );
  });

  test('for a non-AWS endpoint no streaming checksum framing is sent', async () => {
    const stored = await sinkVia(proxy.endpoint).put({ key: key('framing.data'), filePath: bigFile });
    assert.equal(stored.sha256, bigSha);
    const uploads = proxy.requests.filter((r) => r.operation === 'upload-part' || r.operation === 'put-object');
    assert.ok(uploads.length > 0);
    for (const request of proxy.requests) {
      const names = Object.keys(request.headers);
      assert.deepEqual(
        names.filter((name) => name.startsWith('x-amz-checksum-') || name === 'x-amz-sdk-checksum-algorithm'),
        [],
      );
      assert.notEqual(request.headers['x-amz-content-sha256'], 'STREAMING-UNSIGNED-PAYLOAD-TRAILER');
      assert.doesNotMatch(String(request.headers['content-encoding'] ?? ''), /aws-chunked/);
    }
  });

  test('server-side encryption settings go with every upload request', async () => {
    const sink = sinkVia(proxy.endpoint, {
      serverSideEncryption: 'aws:kms',
      kmsKeyId: 'arn:aws:kms:us-east-1:111122223333:key/test',
    });
    await sink.put({ key: key('encrypted.data'), filePath: bigFile }).catch(() => undefined);
    const writes = proxy.requests.filter((r) => r.operation === 'create-multipart' || r.operation === 'put-object');
    assert.ok(writes.length > 0);
    for (const request of writes) {
      assert.equal(request.headers['x-amz-server-side-encryption'], 'aws:kms');
      assert.equal(
        request.headers['x-amz-server-side-encryption-aws-kms-key-id'],
        'arn:aws:kms:us-east-1:111122223333:key/test',
      );
    }
  });

  test('an empty file is stored as an empty object', async () => {
    const empty = join(work, 'empty.txt');
    await writeFile(empty, '');
    const stored = await sinkVia(proxy.endpoint).put({ key: key('empty.txt'), filePath: empty });
    assert.equal(stored.sizeBytes, 0);
    assert.equal(stored.sha256, sha256(Buffer.alloc(0)));
    assert.equal((await download(key('empty.txt'))).body.length, 0);
  });

  test('a stream is stored without knowing its length', async () => {
    const payload = randomBytes(6 * MiB + 123);
    const stored = await sinkVia(proxy.endpoint).put({
      key: key('profile.json'),
      stream: Readable.from([payload.subarray(0, 1000), payload.subarray(1000)]),
    });
    const object = await download(key('profile.json'));
    assert.equal(object.contentType, 'application/json');
    assert.equal(sha256(object.body), sha256(payload));
    assert.equal(stored.sha256, sha256(payload));
  });
});

describe('faults during upload', () => {
  test('a source stream that fails mid-way is reported as SourceUnreadable and not stored', async () => {
    let chunks = 0;
    const stream = new Readable({
      read() {
        if (chunks++ === 8) this.destroy(new Error('tracer output truncated'));
        else this.push(randomBytes(MiB));
      },
    });
    const error = await rejectsWith(
      sinkVia(proxy.endpoint).put({ key: key('broken.bin'), stream }),
      'SourceUnreadable',
    );
    assert.match(error.message, /tracer output truncated/);
    assert.equal(await exists(key('broken.bin')), false);
    noOrphanUploads();
  });

  test('500s on a part abort the multipart upload, and the retry stores the whole file', async () => {
    let failures = 0;
    proxy.setFault((request) =>
      request.operation === 'upload-part' && request.partNumber === 2 && failures++ < 3
        ? { kind: 'error', status: 500, code: 'InternalError' }
        : { kind: 'pass' },
    );
    const stored = await sinkVia(proxy.endpoint).put({ key: key('retry-500.data'), filePath: bigFile });
    assert.equal(stored.sha256, bigSha);
    assert.equal(sha256((await download(key('retry-500.data'))).body), bigSha);
    assert.equal(proxy.createdUploads.size >= 2, true, 'the failed upload should have been abandoned and restarted');
    assert.ok(proxy.requests.some((r) => r.operation === 'abort-multipart'));
    noOrphanUploads();
  });

  test('when aborting a failed multipart upload fails too, the abort is retried', async () => {
    let partFailures = 0;
    let abortFailures = 0;
    proxy.setFault((request) => {
      if (request.operation === 'upload-part' && request.partNumber === 3 && partFailures++ < 3) {
        return { kind: 'error', status: 500, code: 'InternalError' };
      }
      if (request.operation === 'abort-multipart' && abortFailures++ < 3) {
        return { kind: 'error', status: 503, code: 'SlowDown' };
      }
      return { kind: 'pass' };
    });
    const stored = await sinkVia(proxy.endpoint).put({ key: key('retry-abort.data'), filePath: bigFile });
    assert.equal(stored.sha256, bigSha);
    assert.ok(abortFailures > 3, 'the abort should have been tried again after failing');
    noOrphanUploads();
  });

  test('an object stored shorter than sent is caught by its length and uploaded again', async () => {
    let truncated = 0;
    proxy.setFault((request) =>
      request.operation === 'put-object' && truncated++ < 1 ? { kind: 'truncate', keepBytes: 5 } : { kind: 'pass' },
    );
    const file = join(work, 'report.txt');
    await writeFile(file, 'samples: 4242, top: memcpy');
    const stored = await sinkVia(proxy.endpoint).put({ key: key('report.txt'), filePath: file });
    assert.equal(proxy.requests.filter((r) => r.operation === 'put-object').length, 2);
    assert.equal(sha256((await download(key('report.txt'))).body), stored.sha256);
    assert.equal(stored.sha256, await sha256OfFile(file));
  });

  test('a connection cut mid-part is retried and the object arrives intact', async () => {
    let cuts = 0;
    proxy.setFault((request) =>
      request.operation === 'upload-part' && cuts++ < 4 ? { kind: 'reset', afterBytes: MiB } : { kind: 'pass' },
    );
    const stored = await sinkVia(proxy.endpoint).put({ key: key('retry-reset.data'), filePath: bigFile });
    assert.equal(stored.sha256, bigSha);
    assert.equal(sha256((await download(key('retry-reset.data'))).body), bigSha);
    noOrphanUploads();
  });

  test('a server that stalls is given up on after the idle timeout and the upload retried', async () => {
    let stalls = 0;
    proxy.setFault((request) =>
      request.operation === 'put-object' && stalls++ < 1 ? { kind: 'stall', ms: 3000 } : { kind: 'pass' },
    );
    const small = join(work, 'summary.json');
    await writeFile(small, JSON.stringify({ samples: 10 }));
    const started = Date.now();
    const stored = await sinkVia(proxy.endpoint).put({ key: key('summary.json'), filePath: small });
    assert.ok(Date.now() - started < 3000, `should not wait out the stall (took ${Date.now() - started} ms)`);
    assert.equal(stored.sha256, await sha256OfFile(small));
    assert.equal(sha256((await download(key('summary.json'))).body), stored.sha256);
  });

  test('persistent 500s fail with a retryable Unavailable error, nothing stored and no parts left behind', async () => {
    proxy.setFault((request) =>
      request.operation === 'upload-part'
        ? { kind: 'error', status: 503, code: 'ServiceUnavailable' }
        : { kind: 'pass' },
    );
    const error = await rejectsWith(
      sinkVia(proxy.endpoint).put({ key: key('never.data'), filePath: bigFile }),
      'Unavailable',
    );
    assert.equal(error.retryable, true);
    assert.match(error.message, /gave up after 4 attempts/);
    assert.match(error.message, /ServiceUnavailable/);
    assert.equal(await exists(key('never.data')), false);
    noOrphanUploads();
  });

  test('cancelling through the AbortSignal stops the upload and aborts its multipart upload', async () => {
    const controller = new AbortController();
    proxy.setFault((request) => {
      if (request.operation === 'upload-part') controller.abort();
      return { kind: 'pass' };
    });
    await rejectsWith(
      sinkVia(proxy.endpoint).put({ key: key('cancelled.data'), filePath: bigFile }, controller.signal),
      'Aborted',
    );
    // The abort is sent once in-flight part requests settle.
    for (let i = 0; i < 50 && orphanUploads().length > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(await exists(key('cancelled.data')), false);
    noOrphanUploads();
  });

  test('a stream is tried once (it cannot be re-read), and the error says so', async () => {
    proxy.setFault((request) =>
      request.operation === 'put-object' ? { kind: 'error', status: 500, code: 'InternalError' } : { kind: 'pass' },
    );
    const error = await rejectsWith(
      sinkVia(proxy.endpoint).put({ key: key('once.txt'), stream: Readable.from(['folded stacks']) }),
      'Unavailable',
    );
    assert.match(error.message, /not retried: a stream cannot be read twice/);
    assert.equal(proxy.requests.filter((r) => r.operation === 'put-object').length, 3, "the SDK's own 3 tries only");
  });

  test('a server that is down gives a retryable error naming the endpoint', async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    const error = await rejectsWith(sinkVia(endpoint).put({ key: key('down.data'), filePath: bigFile }), 'Unavailable');
    assert.equal(error.retryable, true);
    assert.match(error.message, new RegExp(`cannot reach bucket "${BUCKET}" at ${endpoint}`));
  });
});

describe('terminal errors', () => {
  test('a missing bucket is a terminal BucketMissing error naming the bucket, not retried', async () => {
    const sink = sinkVia(proxy.endpoint, { bucket: 'no-such-bucket' });
    const error = await rejectsWith(sink.put({ key: key('x.txt'), filePath: smallFile }), 'BucketMissing');
    assert.equal(proxy.requests.filter((r) => r.operation === 'put-object').length, 1, 'not retried');
    assert.equal(error.retryable, false);
    assert.match(error.message, /bucket "no-such-bucket" at http:\/\/127\.0\.0\.1:\d+ does not exist/);
    assert.doesNotMatch(error.message, /gave up after/);
  });

  test('credentials named by a Secret but absent from the env fail before any request', async () => {
    const sink = sinkVia(proxy.endpoint, { credentialsSecret: 'tracejob-s3' }, { env: {} });
    const error = await rejectsWith(sink.put({ key: key('x.txt'), filePath: smallFile }), 'CredentialsAbsent');
    assert.match(error.message, /Secret "tracejob-s3"/);
    assert.match(error.message, /AWS_ACCESS_KEY_ID/);
    await rejectsWith(sink.presign(`s3://${BUCKET}/${key('x.txt')}`), 'CredentialsAbsent');
    assert.equal(proxy.requests.length, 0);
  });

  // s3rver checks the access key ID (not SigV4 signatures), so the credentials are wrong by their ID.
  test('without a Secret or a workload identity, the default chain finds nothing: CredentialsAbsent', async (t) => {
    const saved = { ...process.env };
    t.after(() => {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
    });
    for (const name of Object.keys(process.env)) if (name.startsWith('AWS_')) delete process.env[name];
    Object.assign(process.env, {
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: join(work, 'no-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(work, 'no-credentials'),
    });
    const sink = sinkVia(proxy.endpoint, {}, { env: {} });
    const error = await rejectsWith(sink.put({ key: key('x.txt'), filePath: smallFile }), 'CredentialsAbsent');
    assert.equal(error.retryable, false);
    assert.match(error.message, /set credentialsSecret on the storage profile or give .* a workload identity/);
    await rejectsWith(sink.presign(`s3://${BUCKET}/${key('x.txt')}`), 'CredentialsAbsent');
    assert.equal(proxy.requests.length, 0);
  });

  test('unknown credentials are AccessDenied, and no log line or message carries them', async () => {
    const accessKeyId = 'AKIAWRONGKEY0000EXAMPLE';
    const secret = 'wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY';
    const lines: string[] = [];
    const logger = winston.createLogger({
      level: 'debug',
      format: winston.format.json(),
      transports: [
        new winston.transports.Stream({
          stream: new (await import('node:stream')).Writable({
            write(chunk, _encoding, callback) {
              lines.push(String(chunk));
              callback();
            },
          }),
        }),
      ],
    });
    const sink = sinkVia(
      proxy.endpoint,
      {},
      { env: { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secret }, logger },
    );
    const error = await rejectsWith(sink.put({ key: key('x.txt'), filePath: smallFile }), 'AccessDenied');
    assert.equal(error.retryable, false);
    assert.match(error.message, /InvalidAccessKeyId/);
    for (const credential of [accessKeyId, secret]) {
      assert.ok(!error.message.includes(credential), error.message);
      assert.ok(!lines.join('').includes(credential));
    }
    assert.equal(proxy.requests.filter((r) => r.operation === 'put-object').length, 1, 'not retried');
  });
});

describe('presigned URLs', () => {
  test('a presigned URL downloads the object over HTTP with its content type, until it expires', async () => {
    const svg = join(work, 'open-me.svg');
    await writeFile(svg, '<svg xmlns="http://www.w3.org/2000/svg"/>');
    const sink = sinkVia(s3rver.endpoint);
    const stored = await sink.put({ key: key('open-me.svg'), filePath: svg });
    const before = Date.now();
    const link = await sink.presign(stored.uri);
    assert.ok(link);
    assert.equal(Math.round((link.expiresAt.getTime() - before) / 1000), 86400);
    const response = await fetch(link.url);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'image/svg+xml');
    assert.equal(sha256(Buffer.from(await response.arrayBuffer())), stored.sha256);
    const short = await sink.presign(stored.uri, 1);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    assert.equal((await fetch(short!.url)).status, 403);
  });

  test('expiry beyond 7 days, and URIs outside the bucket, are refused', async () => {
    const sink = sinkVia(s3rver.endpoint);
    await rejectsWith(sink.presign(`s3://${BUCKET}/${key('a.svg')}`, 7 * 86400 + 1), 'InvalidRequest');
    await rejectsWith(sink.presign(`s3://other/${key('a.svg')}`), 'InvalidRequest');
    await rejectsWith(sink.presign(`s3://${BUCKET}/results/../../etc/passwd`), 'InvalidRequest');
  });

  test('publicEndpoint replaces the in-cluster endpoint in links', async () => {
    const sink = sinkVia(s3rver.endpoint, { publicEndpoint: 'https://s3.example.com' });
    const link = await sink.presign(`s3://${BUCKET}/${key('a.svg')}`);
    assert.match(
      link!.url,
      /^https:\/\/s3\.example\.com\/traces\/results\/shop\/web-profile\/a1b2-c3\/node-1\/a\.svg\?/,
    );
  });
});

describe('verify and deletePrefix', () => {
  test('verify detects an object changed after upload, and reports a missing one as NotFound', async () => {
    const file = join(work, 'v.txt');
    await writeFile(file, 'original');
    const sink = sinkVia(s3rver.endpoint);
    const stored = await sink.put({ key: key('v.txt'), filePath: file });
    assert.deepEqual(await sink.verify(stored.uri, stored.sha256), {
      matches: true,
      sizeBytes: 8,
      sha256: stored.sha256,
    });
    await raw.send(new PutObjectCommand({ Bucket: BUCKET, Key: key('v.txt'), Body: 'tampered' }));
    assert.equal((await sink.verify(stored.uri, stored.sha256)).matches, false);
    await rejectsWith(sink.verify(`s3://${BUCKET}/${key('missing.txt')}`, stored.sha256), 'NotFound');
  });

  test("deletePrefix removes one TraceJob's objects and nothing else", async () => {
    const sink = sinkVia(s3rver.endpoint);
    const file = join(work, 'd.txt');
    await writeFile(file, 'x');
    for (const artifact of ['a.txt', 'b.txt', 'c.txt']) {
      await sink.put({ key: key(artifact, 'doomed'), filePath: file });
    }
    await sink.put({ key: key('a.txt', 'doomed-not'), filePath: file });
    assert.equal(await sink.deletePrefix('results/shop/doomed/a1b2-c3/'), 3);
    assert.equal(await exists(key('a.txt', 'doomed')), false);
    assert.equal(await exists(key('a.txt', 'doomed-not')), true);
    assert.equal(await sink.deletePrefix('results/shop/doomed/a1b2-c3'), 0);
    await rejectsWith(sink.deletePrefix(''), 'InvalidRequest');
    await rejectsWith(sink.deletePrefix('other/shop/'), 'InvalidRequest');
    await rejectsWith(sink.deletePrefix('results/../x/'), 'InvalidRequest');
  });

  test('deletePrefix also aborts multipart uploads left unfinished under the prefix', async () => {
    const orphan = key('perf.data', 'killed');
    proxy.setFault((request) =>
      request.operation === 'list-multipart'
        ? {
            kind: 'respond',
            status: 200,
            body:
              `<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult><Bucket>${BUCKET}</Bucket>` +
              `<Upload><Key>${orphan}</Key><UploadId>orphan-upload-1</UploadId></Upload>` +
              '<IsTruncated>false</IsTruncated></ListMultipartUploadsResult>',
          }
        : { kind: 'pass' },
    );
    assert.equal(await sinkVia(proxy.endpoint).deletePrefix('results/shop/killed/a1b2-c3/'), 0);
    const list = proxy.requests.find((r) => r.operation === 'list-multipart');
    assert.ok(list && new URL(list.url, 'http://x').searchParams.get('prefix') === 'results/shop/killed/a1b2-c3/');
    assert.ok(proxy.abortedUploads.has('orphan-upload-1'));
  });
});

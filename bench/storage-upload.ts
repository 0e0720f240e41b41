// Upload throughput and memory of the storage sinks: node bench/storage-upload.ts [sizeMiB]
// The S3 figures go through s3rver on loopback in this same process, so they bound the client, not a real store.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { createSink, objectKey, type ArtifactSink, type PutRequest } from '../src/storage/index.ts';
import { CREDENTIALS_ENV, startS3rver } from '../test/storage/support.ts';

const sizeMiB = Number(process.argv[2] ?? 256);
const MiB = 1024 * 1024;

async function writeFile(path: string, chunk: () => Buffer): Promise<void> {
  const out = createWriteStream(path);
  for (let written = 0; written < sizeMiB * MiB;) {
    const data = chunk();
    if (!out.write(data)) await once(out, 'drain');
    written += data.length;
  }
  out.end();
  await once(out, 'finish');
}

async function measure(label: string, sink: ArtifactSink, request: PutRequest): Promise<void> {
  global.gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const started = process.hrtime.bigint();
  const stored = await sink.put(request);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  clearInterval(sampler);
  console.log(
    `${label.padEnd(34)} ${(sizeMiB / seconds).toFixed(1).padStart(7)} MiB/s  ${seconds.toFixed(2)} s  ` +
      `stored ${(stored.sizeBytes / MiB).toFixed(1)} MiB  peak RSS +${((peak - baseline) / MiB).toFixed(0)} MiB`,
  );
}

const work = await mkdtemp(join(tmpdir(), 'tracejob-bench-storage-'));
const s3 = await startS3rver(['bench']);
try {
  const binary = join(work, 'perf.data');
  const text = join(work, 'stacks.folded');
  await writeFile(binary, () => randomBytes(MiB));
  let line = 0;
  await writeFile(text, () =>
    Buffer.from(
      Array.from({ length: 4096 }, () => `main;serve;handler_${line % 211};parse_${line++ % 17};memcpy ${line}\n`).join(
        '',
      ),
    ),
  );
  const key = (artifact: string) => objectKey({ namespace: 'bench', traceJob: 'job', uid: 'u1', node: 'n1', artifact });
  console.log(`input: ${sizeMiB} MiB per file; heap RSS at start ${(process.memoryUsage().rss / MiB).toFixed(0)} MiB`);
  const local = createSink({ type: 'local', directory: join(work, 'results') });
  await measure('local, binary', local, { key: key('perf.data'), filePath: binary });
  await measure('local, folded text (gzip)', local, { key: key('stacks.folded'), filePath: text });
  const remote = createSink(
    { type: 's3', endpoint: s3.endpoint, region: 'us-east-1', bucket: 'bench', forcePathStyle: true },
    { env: CREDENTIALS_ENV },
  );
  await measure('s3 (s3rver), binary, multipart', remote, { key: key('perf.data'), filePath: binary });
  await measure('s3 (s3rver), folded text (gzip)', remote, { key: key('stacks.folded'), filePath: text });
} finally {
  await s3.close();
  await rm(work, { recursive: true, force: true });
}

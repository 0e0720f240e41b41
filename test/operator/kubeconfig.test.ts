import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { clusterAccess } from '../../src/operator/kubeconfig.ts';
import { slim } from '../../src/operator/controller.ts';
import { traceJobObject } from './builders.ts';

describe('clusterAccess', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tracejob-kubeconfig-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = {}): Promise<string> {
    const file = join(dir, `config-${Math.random().toString(36).slice(2)}`);
    await writeFile(
      file,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'dev',
        contexts: [{ name: 'dev', context: { cluster: 'c', user: 'u' } }],
        clusters: [{ name: 'c', cluster: { server: 'https://10.0.0.1:6443/', ...cluster } }],
        users: [{ name: 'u', user }],
      }),
    );
    return file;
  }

  test('bearer token, CA data, trailing slash dropped', async () => {
    const access = await clusterAccess(
      await kubeconfig({ token: 's3cret' }, { 'certificate-authority-data': Buffer.from('CA').toString('base64') }),
    );
    assert.equal(access.server, 'https://10.0.0.1:6443');
    const auth = await access.authenticate();
    assert.equal((auth.headers as Record<string, string>).authorization, 'Bearer s3cret');
    assert.equal(String(auth.ca), 'CA');
  });

  test('token file is read on every request (rotation)', async () => {
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, 'one\n');
    const access = await clusterAccess(await kubeconfig({ tokenFile }));
    assert.equal(((await access.authenticate()).headers as Record<string, string>).authorization, 'Bearer one');
    await writeFile(tokenFile, 'two\n');
    assert.equal(((await access.authenticate()).headers as Record<string, string>).authorization, 'Bearer two');
  });

  test('client certificate, basic auth, insecure-skip-tls-verify', async () => {
    const cert = await clusterAccess(
      await kubeconfig(
        {
          'client-certificate-data': Buffer.from('CERT').toString('base64'),
          'client-key-data': Buffer.from('KEY').toString('base64'),
        },
        { 'insecure-skip-tls-verify': true },
      ),
    );
    const auth = await cert.authenticate();
    assert.equal(String(auth.cert), 'CERT');
    assert.equal(String(auth.key), 'KEY');
    assert.equal(auth.rejectUnauthorized, false);
    const basic = await (await clusterAccess(await kubeconfig({ username: 'a', password: 'b' }))).authenticate();
    assert.equal(
      (basic.headers as Record<string, string>).authorization,
      `Basic ${Buffer.from('a:b').toString('base64')}`,
    );
  });

  test('a current-context that names nothing is an error that says so', async () => {
    const file = join(dir, 'broken');
    await writeFile(file, 'current-context: nope\ncontexts: []\n');
    await assert.rejects(clusterAccess(file), /current-context "nope" names no context/);
  });
});

describe('slim', () => {
  test('keeps an unfinished TraceJob whole', () => {
    const job = traceJobObject({ status: { phase: 'Running', message: 'tracing' } });
    assert.deepEqual(slim(structuredClone(job)), job);
  });
  test('keeps of a finished one what release, expiry and artifact deletion need', () => {
    const job = traceJobObject({
      spec: { target: { pod: 'x' }, tracer: { type: 'profile' }, storage: 's3', ttlSecondsAfterFinished: 60 },
      status: {
        phase: 'Succeeded',
        completionTime: '2026-01-01T00:01:00Z',
        message: 'x'.repeat(5000),
        conditions: [],
        artifacts: [
          { name: 'a', format: 'folded', uri: 's3://b/a', sizeBytes: 1, sha256: 'a'.repeat(64) },
          { name: 'b', format: 'folded', uri: 's3://b/b', sizeBytes: 1, sha256: 'b'.repeat(64) },
        ],
      },
    });
    job.metadata.finalizers = ['tracejob.dev/cleanup'];
    const kept = slim(job);
    assert.equal(kept.status?.phase, 'Succeeded');
    assert.equal(kept.status?.completionTime, '2026-01-01T00:01:00Z');
    assert.equal(kept.status?.artifacts?.length, 1);
    assert.equal(kept.status?.message, undefined);
    assert.deepEqual(kept.spec, { storage: 's3', ttlSecondsAfterFinished: 60 });
    assert.deepEqual(kept.metadata.finalizers, ['tracejob.dev/cleanup']);
    assert.equal(kept.metadata.uid, job.metadata.uid);
  });
});

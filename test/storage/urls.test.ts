import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createSink,
  linkArtifacts,
  type ArtifactSink,
  type LinkedArtifact,
  type PresignedUrl,
} from '../../src/storage/index.ts';

function signingSink(): ArtifactSink & { signed: string[] } {
  const signed: string[] = [];
  return {
    type: 's3',
    signed,
    put: () => Promise.reject(new Error('unused')),
    deletePrefix: () => Promise.reject(new Error('unused')),
    verify: () => Promise.reject(new Error('unused')),
    presign: async (uri: string): Promise<PresignedUrl> => {
      signed.push(uri);
      return {
        url: `https://s3.example.com/${uri.slice(5)}?sig=${signed.length}`,
        expiresAt: new Date(Date.UTC(2030, 0, 1)),
      };
    },
  };
}

const linked = {
  name: 'flamegraph',
  uri: 's3://b/x/flame.svg',
  url: 'https://s3.example.com/b/x/flame.svg?sig=old',
  urlExpiresAt: '2029-01-01T00:00:00.000Z',
};
const unlinked: LinkedArtifact & { name: string } = { name: 'folded', uri: 's3://b/x/stacks.folded' };

test('artifacts without a link get one; linked ones are left alone', async () => {
  const sink = signingSink();
  const result = await linkArtifacts(sink, [linked, unlinked], { refresh: false });
  assert.deepEqual(sink.signed, ['s3://b/x/stacks.folded']);
  assert.deepEqual(result, [
    linked,
    { ...unlinked, url: 'https://s3.example.com/b/x/stacks.folded?sig=1', urlExpiresAt: '2030-01-01T00:00:00.000Z' },
  ]);
});

test('a refresh re-signs every artifact, keeping its other fields', async () => {
  const sink = signingSink();
  const result = await linkArtifacts(sink, [linked, unlinked], { refresh: true });
  assert.equal(sink.signed.length, 2);
  assert.equal(result[0]!.name, 'flamegraph');
  assert.notEqual(result[0]!.url, linked.url);
  assert.equal(result[0]!.urlExpiresAt, '2030-01-01T00:00:00.000Z');
});

test('file:// artifacts from a local sink stay without a link', async () => {
  const sink = createSink({ type: 'local', directory: '/nonexistent/results' });
  const local = { uri: 'file:///nonexistent/results/a/b.svg' };
  assert.deepEqual(await linkArtifacts(sink, [local], { refresh: true }), [local]);
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  contentTypeFor,
  credentialEnvFromSecretData,
  credentialEnvVars,
  objectKey,
  parseSinkConfig,
  parseStorageProfiles,
  selectProfile,
  StorageConfigError,
  traceJobPrefix,
} from '../../src/storage/index.ts';

const s3 = { type: 's3', region: 'us-east-1', bucket: 'traces' };

function errorOf(run: () => unknown): StorageConfigError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof StorageConfigError, String(error));
    return error;
  }
  assert.fail('expected a StorageConfigError');
}

describe('SinkConfig', () => {
  test('a minimal S3 sink gets its defaults', () => {
    assert.deepEqual(parseSinkConfig(s3), {
      ...s3,
      prefix: '',
      forcePathStyle: false,
      presignExpirySeconds: 86400,
      deletePolicy: 'Retain',
    });
  });

  test('a full S3 sink is accepted as written', () => {
    const full = {
      ...s3,
      endpoint: 'https://minio.storage.svc:9000',
      publicEndpoint: 'https://minio.example.com',
      prefix: 'clusters/prod-1',
      forcePathStyle: true,
      serverSideEncryption: 'aws:kms',
      kmsKeyId: 'arn:aws:kms:us-east-1:111122223333:key/abc',
      credentialsSecret: 'tracejob-s3',
      presignExpirySeconds: 604800,
      deletePolicy: 'Delete',
    };
    assert.deepEqual(parseSinkConfig(full), full);
  });

  const rejected: [name: string, input: Record<string, unknown>, field: string, says: RegExp][] = [
    ['unknown type', { type: 'gcs' }, 'storage.type', /"s3" or "local"/],
    ['missing region', { type: 's3', bucket: 'traces' }, 'storage.region', /.+/],
    ['upper-case bucket', { ...s3, bucket: 'Traces' }, 'storage.bucket', /lowercase letters/],
    ['IP-address bucket', { ...s3, bucket: '10.0.0.1' }, 'storage.bucket', /IP address/],
    ['ftp endpoint', { ...s3, endpoint: 'ftp://x.example.com' }, 'storage.endpoint', /http:\/\/ or https:\/\//],
    [
      'credentials in the endpoint',
      { ...s3, endpoint: 'https://key:secret@minio.example.com' },
      'storage.endpoint',
      /credentialsSecret/,
    ],
    ['traversal in prefix', { ...s3, prefix: 'a/../b' }, 'storage.prefix', /no empty or "\.\." segments/],
    ['leading slash in prefix', { ...s3, prefix: '/a' }, 'storage.prefix', /no leading "\/"/],
    ['expiry over 7 days', { ...s3, presignExpirySeconds: 604801 }, 'storage.presignExpirySeconds', /7 days/],
    ['fractional expiry', { ...s3, presignExpirySeconds: 1.5 }, 'storage.presignExpirySeconds', /whole number/],
    ['kmsKeyId without KMS', { ...s3, kmsKeyId: 'k' }, 'storage.kmsKeyId', /aws:kms/],
    ['unknown SSE', { ...s3, serverSideEncryption: 'rot13' }, 'storage.serverSideEncryption', /AES256/],
    ['publicEndpoint alone', { ...s3, publicEndpoint: 'https://x.example.com' }, 'storage.publicEndpoint', /endpoint/],
    ['Secret name with a slash', { ...s3, credentialsSecret: 'ns/name' }, 'storage.credentialsSecret', /object name/],
    ['unknown field', { ...s3, accessKeyId: 'AKIA' }, 'storage', /accessKeyId/],
    ['relative directory', { type: 'local', directory: 'results' }, 'storage.directory', /absolute/],
    ['unnormalized directory', { type: 'local', directory: '/var/../etc' }, 'storage.directory', /normalized/],
    ['bad deletePolicy', { type: 'local', directory: '/r', deletePolicy: 'Maybe' }, 'storage.deletePolicy', /Retain/],
  ];
  for (const [name, input, field, says] of rejected) {
    test(`rejects ${name}, naming ${field}`, () => {
      const error = errorOf(() => parseSinkConfig(input));
      const issue = error.issues.find((i) => i.startsWith(`${field}: `));
      assert.ok(issue, `no issue for ${field} in: ${error.message}`);
      assert.match(issue, says);
    });
  }

  test('a local directory may end in "/"', () => {
    assert.equal(parseSinkConfig({ type: 'local', directory: '/var/lib/tracejob/' }).type, 'local');
  });
});

describe('StorageProfiles', () => {
  const profiles = parseStorageProfiles({
    default: 'minio',
    profiles: { minio: { ...s3, endpoint: 'http://minio:9000' }, scratch: { type: 'local', directory: '/results' } },
  });

  test('a TraceJob without spec.storage gets the default profile, or the one it names', () => {
    assert.equal(selectProfile(profiles, undefined).name, 'minio');
    assert.equal(selectProfile(profiles, 'scratch').config.type, 'local');
  });

  test('an unknown profile name is an error naming spec.storage and the choices', () => {
    const error = errorOf(() => selectProfile(profiles, 'aws'));
    assert.match(error.message, /^spec\.storage: no storage profile named "aws"; available: minio, scratch$/);
  });

  test('a default that names no profile, and bad profile names, are refused with their field', () => {
    assert.match(
      errorOf(() => parseStorageProfiles({ default: 'x', profiles: { a: { type: 'local', directory: '/r' } } }))
        .message,
      /^storage\.default: names no profile; configured profiles: a$/,
    );
    assert.match(
      errorOf(() =>
        parseStorageProfiles({ default: 'A', profiles: { A: { type: 'local', directory: '/r' } } }, 'values'),
      ).message,
      /values\.default: must be a DNS label/,
    );
    assert.match(
      errorOf(() => parseStorageProfiles({ default: 'a', profiles: { a: { ...s3, bucket: 'X' } } })).message,
      /storage\.profiles\.a\.bucket: /,
    );
  });
});

describe('credentials', () => {
  test('a sink with credentialsSecret gives the tracer pod env vars from that Secret, never values', () => {
    const config = parseSinkConfig({ ...s3, credentialsSecret: 'tracejob-s3' });
    assert.deepEqual(credentialEnvVars(config), [
      { name: 'AWS_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: 'tracejob-s3', key: 'accessKeyId' } } },
      { name: 'AWS_SECRET_ACCESS_KEY', valueFrom: { secretKeyRef: { name: 'tracejob-s3', key: 'secretAccessKey' } } },
      {
        name: 'AWS_SESSION_TOKEN',
        valueFrom: { secretKeyRef: { name: 'tracejob-s3', key: 'sessionToken', optional: true } },
      },
    ]);
    assert.deepEqual(credentialEnvVars(parseSinkConfig(s3)), []);
    assert.deepEqual(credentialEnvVars(parseSinkConfig({ type: 'local', directory: '/r' })), []);
  });

  test('the operator turns Secret data into the same env', () => {
    assert.deepEqual(credentialEnvFromSecretData({ accessKeyId: 'a', secretAccessKey: 'b' }), {
      AWS_ACCESS_KEY_ID: 'a',
      AWS_SECRET_ACCESS_KEY: 'b',
      AWS_SESSION_TOKEN: undefined,
    });
  });
});

describe('object layout', () => {
  const coordinates = {
    namespace: 'shop',
    traceJob: 'web.profile',
    uid: '3f2c-11aa',
    node: 'ip-10-0-0-1.ec2',
    artifact: 'flame.svg',
  };

  test('keys follow <prefix>/<namespace>/<tracejob>/<uid>/<node>/<artifact>', () => {
    assert.equal(
      objectKey({ ...coordinates, prefix: 'prod/eu' }),
      'prod/eu/shop/web.profile/3f2c-11aa/ip-10-0-0-1.ec2/flame.svg',
    );
    assert.equal(objectKey(coordinates), 'shop/web.profile/3f2c-11aa/ip-10-0-0-1.ec2/flame.svg');
    assert.equal(traceJobPrefix({ prefix: 'prod', namespace: 'shop', traceJob: 'j', uid: 'u' }), 'prod/shop/j/u/');
  });

  test("the longest names Kubernetes allows, under the longest prefix, fit S3's 1024-byte key limit", () => {
    const longest = objectKey({
      prefix: `${'p'.repeat(63)}/${'q'.repeat(64)}`,
      namespace: 'n'.repeat(63),
      traceJob: 't'.repeat(253),
      uid: 'u'.repeat(64),
      node: 'm'.repeat(253),
      artifact: 'a'.repeat(200),
    });
    assert.ok(longest.length <= 1024, `${longest.length}`);
    assert.throws(() => parseSinkConfig({ ...s3, prefix: 'p'.repeat(129) }), /prefix: must be at most 128/);
  });

  const refused: [keyof typeof coordinates | 'prefix', string][] = [
    ['namespace', 'Shop'],
    ['namespace', 'a.b'],
    ['traceJob', 'a/b'],
    ['uid', '../u'],
    ['node', '-node'],
    ['artifact', '.svg'],
    ['artifact', 'a b.svg'],
    ['artifact', 'x/../../y'],
    ['prefix', '../up'],
    ['prefix', 'a//b'],
  ];
  for (const [field, value] of refused) {
    test(`refuses ${field} ${JSON.stringify(value)}`, () => {
      assert.throws(() => objectKey({ ...coordinates, [field]: value }), new RegExp(`^ObjectKeyError: ${field}: `));
    });
  }
});

test('content types let a browser open each artifact', () => {
  assert.equal(contentTypeFor('a/flame.svg'), 'image/svg+xml');
  assert.equal(contentTypeFor('a/FLAME.SVG'), 'image/svg+xml');
  assert.equal(contentTypeFor('a/profile.speedscope.json'), 'application/json');
  assert.equal(contentTypeFor('a/stacks.folded'), 'text/plain; charset=utf-8');
  assert.equal(contentTypeFor('a/summary.txt'), 'text/plain; charset=utf-8');
  assert.equal(contentTypeFor('a/profile.pb.gz'), 'application/octet-stream');
  assert.equal(contentTypeFor('a/perf.data'), 'application/octet-stream');
});

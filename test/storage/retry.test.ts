import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../src/log.ts';
import { StorageError } from '../../src/storage/errors.ts';
import { backoffDelay, withRetry } from '../../src/storage/retry.ts';

const policy = { attempts: 4, baseDelayMs: 100, maxDelayMs: 300 };

test('backoff is jittered below a cap that doubles per failure up to the maximum', () => {
  assert.equal(
    backoffDelay(policy, 1, () => 0),
    0,
  );
  assert.equal(
    backoffDelay(policy, 1, () => 0.999),
    99,
  );
  assert.equal(
    backoffDelay(policy, 2, () => 0.999),
    199,
  );
  assert.equal(
    backoffDelay(policy, 3, () => 0.999),
    299,
  );
  assert.equal(
    backoffDelay(policy, 10, () => 0.999),
    299,
  );
  assert.equal(
    backoffDelay(policy, 2, () => 0.5),
    100,
  );
});

const fast = { attempts: 4, baseDelayMs: 1, maxDelayMs: 2 };
const classify = (error: unknown) =>
  error instanceof StorageError ? error : new StorageError('Unavailable', String(error));

test('retryable failures are retried until the attempts run out, and the error says how many', async () => {
  let calls = 0;
  await assert.rejects(
    withRetry(
      async () => {
        calls++;
        throw new StorageError('Unavailable', 'store answered 503');
      },
      { policy: fast, classify, logger: silentLogger(), what: 'x' },
    ),
    (error: StorageError) =>
      error.code === 'Unavailable' && /store answered 503 \(gave up after 4 attempts\)/.test(error.message),
  );
  assert.equal(calls, 4);
});

test('a retryable failure followed by success returns the result', async () => {
  let calls = 0;
  const result = await withRetry(
    async () => {
      if (++calls < 3) throw new Error('ECONNRESET');
      return 'stored';
    },
    { policy: fast, classify, logger: silentLogger(), what: 'x' },
  );
  assert.equal(result, 'stored');
  assert.equal(calls, 3);
});

test('terminal failures are not retried', async () => {
  let calls = 0;
  await assert.rejects(
    withRetry(
      async () => {
        calls++;
        throw new StorageError('BucketMissing', 'bucket "x" does not exist');
      },
      { policy: fast, classify, logger: silentLogger(), what: 'x' },
    ),
    { message: 'bucket "x" does not exist' },
  );
  assert.equal(calls, 1);
});

test('cancelling while waiting to retry stops at once', async () => {
  const controller = new AbortController();
  const started = Date.now();
  setTimeout(() => controller.abort(), 20);
  await assert.rejects(
    withRetry(
      async () => {
        throw new StorageError('Unavailable', 'down');
      },
      {
        policy: { attempts: 5, baseDelayMs: 10_000, maxDelayMs: 10_000 },
        classify: () => new StorageError('Unavailable', 'down'),
        signal: controller.signal,
        logger: silentLogger(),
        what: 'x',
      },
    ),
    (error: StorageError) => error.code === 'Aborted',
  );
  assert.ok(Date.now() - started < 2000);
});

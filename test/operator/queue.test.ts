import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { WorkQueue } from '../../src/operator/queue.ts';

describe('WorkQueue', () => {
  test('a key added many times is queued once', async () => {
    const q = new WorkQueue();
    for (let i = 0; i < 5; i++) q.add('a');
    q.add('b');
    assert.equal(q.depth, 2);
    assert.equal(await q.get(), 'a');
    assert.equal(await q.get(), 'b');
    assert.equal(q.depth, 0);
  });

  test('a key being processed is not handed out again until done, then once more', async () => {
    const q = new WorkQueue();
    q.add('a');
    const key = await q.get();
    q.add('a');
    q.add('a');
    assert.equal(q.depth, 0, 'not queued while processing');
    let second: string | undefined;
    void q.get().then((k) => (second = k));
    await sleep(5);
    assert.equal(second, undefined);
    q.done(key!);
    await sleep(0);
    assert.equal(second, 'a');
  });

  test('waiting workers are woken by add', async () => {
    const q = new WorkQueue();
    const got = q.get();
    q.add('x');
    assert.equal(await got, 'x');
  });

  test('per-key backoff doubles and forget resets it', () => {
    let now = 0;
    const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 1000, qps: 1e6, burst: 1e6, now: () => now });
    const delays: number[] = [];
    const original = q.addAfter.bind(q);
    q.addAfter = (key: string, ms: number) => {
      delays.push(ms);
      original(key, ms);
    };
    for (let i = 0; i < 8; i++) q.addRateLimited('k');
    assert.deepEqual(delays, [10, 20, 40, 80, 160, 320, 640, 1000]);
    q.forget('k');
    q.addRateLimited('k');
    assert.equal(delays.at(-1), 10);
    q.shutDown();
    now++;
  });

  test('the global bucket spaces out retries of many keys', () => {
    const q = new WorkQueue({ baseDelayMs: 1, qps: 10, burst: 2, now: () => 0 });
    const delays: number[] = [];
    const original = q.addAfter.bind(q);
    q.addAfter = (key: string, ms: number) => {
      delays.push(ms);
      original(key, ms);
    };
    for (let i = 0; i < 5; i++) q.addRateLimited(`k${i}`);
    assert.deepEqual(delays, [1, 1, 100, 200, 300]);
    q.shutDown();
  });

  test('addAfter: the earliest pending time wins, and the key arrives', async () => {
    const q = new WorkQueue();
    q.addAfter('a', 10_000);
    q.addAfter('a', 20);
    const started = Date.now();
    assert.equal(await q.get(), 'a');
    assert.ok(Date.now() - started < 5_000);
    q.shutDown();
  });

  test('shutDown releases waiting workers', async () => {
    const q = new WorkQueue();
    const got = q.get();
    q.shutDown();
    assert.equal(await got, undefined);
  });
});

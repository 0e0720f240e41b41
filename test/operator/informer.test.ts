import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Informer } from '../../src/operator/informer.ts';
import { KubeClient } from '../../src/operator/kube.ts';

/**
 * A scripted API server: each watch request takes the next step of the script. This tests the informer's recovery
 * logic in isolation; the same faults are exercised end to end against the development cluster.
 */
type Step = { events: object[]; end: 'close' | 'hang' } | { status: number } | { silent: true };

interface Obj {
  metadata: { name: string; namespace: string; resourceVersion: string };
}

const obj = (name: string, rv: string): Obj => ({ metadata: { name, namespace: 'ns', resourceVersion: rv } });

class ScriptedServer {
  items: Obj[] = [];
  listRv = '100';
  script: Step[] = [];
  lists: URLSearchParams[] = [];
  watches: URLSearchParams[] = [];
  readonly server = createServer((req, res) => this.#handle(req, res));
  readonly open = new Set<ServerResponse>();

  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const res of this.open) res.destroy();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  /** Only requests for this collection follow the script; stragglers from an earlier test's informer get 404. */
  path = '';

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url!, 'http://x');
    if (url.pathname !== this.path) {
      res.statusCode = 404;
      res.end(JSON.stringify({ kind: 'Status', code: 404, reason: 'NotFound', message: 'not this test' }));
      return;
    }
    if (url.searchParams.get('watch') !== 'true') {
      this.lists.push(url.searchParams);
      const limit = Number(url.searchParams.get('limit') ?? 0);
      const start = Number(url.searchParams.get('continue') ?? 0);
      const page = limit ? this.items.slice(start, start + limit) : this.items;
      const next = limit && start + limit < this.items.length ? String(start + limit) : undefined;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ metadata: { resourceVersion: this.listRv, continue: next }, items: page }));
      return;
    }
    this.watches.push(url.searchParams);
    const step = this.script.shift() ?? { silent: true };
    if ('status' in step) {
      res.statusCode = step.status;
      res.end(JSON.stringify({ kind: 'Status', code: step.status, reason: 'Scripted', message: 'scripted' }));
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.flushHeaders();
    this.open.add(res);
    res.on('close', () => this.open.delete(res));
    if ('silent' in step) return;
    for (const e of step.events) res.write(JSON.stringify(e) + '\n');
    if (step.end === 'close') res.end();
  }
}

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('Informer', () => {
  const server = new ScriptedServer();
  let client: KubeClient;
  before(async () => {
    const url = await server.start();
    client = new KubeClient({ access: { server: url, authenticate: async () => ({ headers: {} }) } });
  });
  after(async () => {
    await client.close();
    await server.stop();
  });

  let tests = 0;
  const stops: AbortController[] = [];
  // A failed assertion must not leave an informer retrying forever (the file would never end).
  afterEach(() => stops.splice(0).forEach((s) => s.abort()));
  function informer(silenceMs = 10_000) {
    const events: string[] = [];
    server.path = `/api/v1/things-${++tests}`;
    const inf = new Informer<Obj>({
      client,
      path: server.path,
      pageSize: 2,
      silenceMs,
      backoffBaseMs: 20,
      backoffMaxMs: 100,
      resyncMs: 60_000,
    });
    inf.on((type, o) => events.push(`${type}:${o.metadata.name}`));
    return { inf, events };
  }

  test('lists page by page, watches from the list, asks for bookmarks, follows bookmarks', async () => {
    server.items = [obj('a', '1'), obj('b', '2'), obj('c', '3')];
    server.lists = [];
    server.watches = [];
    server.script = [
      {
        events: [
          { type: 'ADDED', object: obj('d', '101') },
          { type: 'BOOKMARK', object: { metadata: { resourceVersion: '150' } } },
        ],
        end: 'close',
      },
      { events: [{ type: 'DELETED', object: obj('a', '151') }], end: 'hang' },
    ];
    const { inf, events } = informer();
    const stop = new AbortController();
    stops.push(stop);
    const running = inf.run(stop.signal);
    await inf.waitForSync();
    await until(() => events.includes('delete:a'), 'the second watch');
    assert.equal(server.lists.length, 2, 'two pages');
    assert.equal(server.watches[0]!.get('resourceVersion'), '100');
    assert.equal(server.watches[0]!.get('allowWatchBookmarks'), 'true');
    assert.ok(Number(server.watches[0]!.get('timeoutSeconds')) > 0);
    assert.equal(server.watches[1]!.get('resourceVersion'), '150', 'resumes from the bookmark');
    assert.deepEqual(
      inf
        .list()
        .map((o) => o.metadata.name)
        .sort(),
      ['b', 'c', 'd'],
    );
    stop.abort();
    await running;
  });

  test('410 in the stream: relists and reports what vanished meanwhile', async () => {
    server.items = [obj('a', '1'), obj('b', '2')];
    server.listRv = '100';
    server.script = [
      {
        events: [{ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' } }],
        end: 'close',
      },
    ];
    const { inf, events } = informer();
    const stop = new AbortController();
    stops.push(stop);
    const running = inf.run(stop.signal);
    await inf.waitForSync();
    server.items = [obj('b', '5'), obj('c', '6')];
    server.listRv = '200';
    await until(() => inf.restarts.relist === 1 && events.includes('add:c'), 'the relist');
    assert.ok(events.includes('delete:a'));
    assert.ok(events.includes('update:b'));
    assert.deepEqual(
      inf
        .list()
        .map((o) => o.metadata.name)
        .sort(),
      ['b', 'c'],
    );
    stop.abort();
    await running;
  });

  test('HTTP 410 on the watch request also relists', async () => {
    server.items = [obj('a', '1')];
    server.script = [{ status: 410 }];
    const listsBefore = server.lists.length;
    const { inf } = informer();
    const stop = new AbortController();
    stops.push(stop);
    const running = inf.run(stop.signal);
    await until(() => inf.restarts.relist === 1, 'the relist');
    await until(() => server.lists.length >= listsBefore + 2, 'a second list');
    stop.abort();
    await running;
  });

  test('500s and dropped connections: keeps retrying with backoff, keeps the cache, resumes', async () => {
    server.items = [obj('a', '1')];
    server.listRv = '100';
    server.script = [
      { status: 500 },
      { status: 500 },
      { status: 503 },
      { events: [], end: 'close' },
      { events: [{ type: 'ADDED', object: obj('z', '120') }], end: 'hang' },
    ];
    const { inf, events } = informer();
    const stop = new AbortController();
    stops.push(stop);
    const running = inf.run(stop.signal);
    await until(() => events.includes('add:z'), 'recovery');
    assert.ok(inf.restarts.error >= 3, JSON.stringify(inf.restarts));
    assert.ok(inf.get('ns', 'a'), 'cache survived the errors');
    stop.abort();
    await running;
  });

  test('a silent watch is replaced by the watchdog', async () => {
    server.items = [obj('a', '1')];
    server.script = [{ silent: true }, { events: [{ type: 'ADDED', object: obj('late', '130') }], end: 'hang' }];
    const { inf, events } = informer(300);
    const stop = new AbortController();
    stops.push(stop);
    const running = inf.run(stop.signal);
    await until(() => events.includes('add:late'), 'the replacement watch');
    assert.equal(inf.restarts.silence, 1);
    stop.abort();
    await running;
  });
});

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { JsonObject } from './patch.ts';

/** A stored object: JSON with the metadata every kind has. Stored objects are never mutated; writes replace them. */
export type KubeObject = JsonObject & {
  apiVersion?: string;
  kind?: string;
  metadata: JsonObject & {
    name: string;
    namespace?: string;
    uid: string;
    resourceVersion: string;
    creationTimestamp: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
    ownerReferences?: {
      apiVersion: string;
      kind: string;
      name: string;
      uid: string;
      controller?: boolean;
      blockOwnerDeletion?: boolean;
    }[];
  };
};

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  rv: number;
  type: EventType;
  storageKey: string;
  object: KubeObject;
  /** The object before a modification, so watches can tell when it stopped (or started) matching their selectors. */
  previous?: KubeObject;
}

type LogRecord =
  { t: 'put'; s: string; o: KubeObject } | { t: 'del'; s: string; k: string; rv: number } | { t: 'rv'; rv: number };

export function objectKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

/**
 * All objects of one server, with one resourceVersion counter. Every write is appended to `objects.log` in the state
 * directory before the caller is answered, so an acknowledged write survives a crash or restart of the process. The
 * log is compacted on open and whenever it grows to several times the live data.
 */
export class Store {
  private readonly collections = new Map<string, Map<string, KubeObject>>();
  private readonly history: StoreEvent[] = [];
  private readonly listeners = new Set<(e: StoreEvent) => void>();
  private readonly logPath: string;
  private fd: number;
  private logRecords = 0;
  private counter = 0;
  /** Watches and continue tokens from before this resourceVersion are answered 410 Expired. */
  private floor = 0;
  private readonly historyLimit: number;
  private readonly durable: boolean;

  constructor(options: { stateDir: string; historyLimit?: number; fsync?: boolean }) {
    mkdirSync(options.stateDir, { recursive: true });
    this.logPath = join(options.stateDir, 'objects.log');
    this.historyLimit = options.historyLimit ?? 10000;
    this.durable = options.fsync ?? false;
    if (existsSync(this.logPath)) this.replay(readFileSync(this.logPath, 'utf8'));
    this.fd = -1;
    this.compact();
    this.floor = this.counter;
  }

  private replay(text: string): void {
    for (const line of text.split('\n')) {
      if (line === '') continue;
      let record: LogRecord;
      try {
        record = JSON.parse(line) as LogRecord;
      } catch {
        // Only the last line can be torn (a crash mid-append); it was never acknowledged.
        continue;
      }
      if (record.t === 'put') {
        this.collection(record.s).set(objectKey(record.o.metadata.namespace, record.o.metadata.name), record.o);
        this.counter = Math.max(this.counter, Number(record.o.metadata.resourceVersion));
      } else if (record.t === 'del') {
        this.collection(record.s).delete(record.k);
        this.counter = Math.max(this.counter, record.rv);
      } else this.counter = Math.max(this.counter, record.rv);
    }
  }

  private compact(): void {
    const tmp = `${this.logPath}.tmp`;
    const fd = openSync(tmp, 'w');
    const chunks: string[] = [JSON.stringify({ t: 'rv', rv: this.counter })];
    let records = 1;
    for (const [s, objects] of this.collections)
      for (const o of objects.values()) {
        chunks.push(JSON.stringify({ t: 'put', s, o }));
        records++;
        if (chunks.length >= 1000) writeSync(fd, chunks.splice(0).join('\n') + '\n');
      }
    if (chunks.length) writeSync(fd, chunks.join('\n') + '\n');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.logPath);
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = openSync(this.logPath, 'a');
    this.logRecords = records;
  }

  private append(record: LogRecord): void {
    writeSync(this.fd, JSON.stringify(record) + '\n');
    if (this.durable) fsyncSync(this.fd);
    this.logRecords++;
    if (this.logRecords > 10000 && this.logRecords > 4 * this.size()) this.compact();
  }

  private size(): number {
    let n = 0;
    for (const c of this.collections.values()) n += c.size;
    return n;
  }

  private collection(storageKey: string): Map<string, KubeObject> {
    let c = this.collections.get(storageKey);
    if (!c) {
      c = new Map();
      this.collections.set(storageKey, c);
    }
    return c;
  }

  get resourceVersion(): string {
    return String(this.counter);
  }

  /** The oldest resourceVersion a watch may resume from; older ones are 410 Expired. */
  get oldestResumable(): number {
    return this.floor;
  }

  nextResourceVersion(): string {
    return String(this.counter + 1);
  }

  get(storageKey: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.collections.get(storageKey)?.get(objectKey(namespace, name));
  }

  /** Objects sorted by namespace/name, the order list pagination walks. */
  list(storageKey: string, namespace?: string): KubeObject[] {
    const c = this.collections.get(storageKey);
    if (!c) return [];
    const out: KubeObject[] = [];
    const prefix = namespace === undefined ? undefined : `${namespace}/`;
    const keys = [...c.keys()].filter((k) => prefix === undefined || k.startsWith(prefix)).sort();
    for (const k of keys) out.push(c.get(k) as KubeObject);
    return out;
  }

  storageKeys(): string[] {
    return [...this.collections.keys()];
  }

  /** Writes an object, stamping it with the next resourceVersion. */
  put(storageKey: string, object: KubeObject): KubeObject {
    const key = objectKey(object.metadata.namespace, object.metadata.name);
    const previous = this.collection(storageKey).get(key);
    this.counter++;
    const stored = { ...object, metadata: { ...object.metadata, resourceVersion: String(this.counter) } } as KubeObject;
    this.append({ t: 'put', s: storageKey, o: stored });
    this.collection(storageKey).set(key, stored);
    this.emit({ rv: this.counter, type: previous ? 'MODIFIED' : 'ADDED', storageKey, object: stored, previous });
    return stored;
  }

  remove(storageKey: string, object: KubeObject): KubeObject {
    const key = objectKey(object.metadata.namespace, object.metadata.name);
    this.counter++;
    this.append({ t: 'del', s: storageKey, k: key, rv: this.counter });
    this.collection(storageKey).delete(key);
    // The DELETED event carries the object's last state at the resourceVersion of the deletion, as kube-apiserver does.
    const last = { ...object, metadata: { ...object.metadata, resourceVersion: String(this.counter) } } as KubeObject;
    this.emit({ rv: this.counter, type: 'DELETED', storageKey, object: last, previous: object });
    return last;
  }

  private emit(e: StoreEvent): void {
    this.history.push(e);
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      this.floor = Math.max(this.floor, dropped[dropped.length - 1]?.rv ?? 0);
    }
    for (const l of this.listeners) l(e);
  }

  /** Events after `rv`, or undefined when they are no longer retained (the caller answers 410). */
  eventsSince(rv: number): StoreEvent[] | undefined {
    if (rv < this.floor) return undefined;
    let lo = 0;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.history[mid]?.rv ?? 0) <= rv) lo = mid + 1;
      else hi = mid;
    }
    return this.history.slice(lo);
  }

  /** Forgets all history: every resourceVersion before now becomes too old to resume from. */
  expireHistory(): void {
    // An empty write moves the counter so that lists made from now on carry a resourceVersion that is still valid.
    this.counter++;
    this.append({ t: 'rv', rv: this.counter });
    this.history.length = 0;
    this.floor = this.counter;
  }

  subscribe(listener: (e: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    if (this.fd >= 0) {
      fsyncSync(this.fd);
      closeSync(this.fd);
      this.fd = -1;
    }
    this.listeners.clear();
  }
}

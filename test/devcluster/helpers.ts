import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import type { TestCluster } from '../support/cluster.ts';
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  type KubeConfig,
} from '@kubernetes/client-node';

export const fixtures = join(import.meta.dirname, '..', 'fixtures', 'devcluster');

export function fixture(name: string): Record<string, unknown> {
  return yaml.load(readFileSync(join(fixtures, name), 'utf8')) as Record<string, unknown>;
}

export interface StatusBody {
  kind: string;
  status: string;
  reason: string;
  code: number;
  message: string;
  details?: {
    name?: string;
    kind?: string;
    causes?: { field?: string; reason: string; message: string }[];
    retryAfterSeconds?: number;
  };
}

/** Awaits a client-node call that must fail, and returns the Status the server answered. */
export async function failure(call: Promise<unknown>, code: number): Promise<StatusBody> {
  try {
    await call;
  } catch (err) {
    const e = err as { code?: number; body?: unknown };
    assert.equal(e.code, code, `expected HTTP ${code}, got ${String(e.code)}: ${String(e.body)}`);
    const body = typeof e.body === 'string' ? (JSON.parse(e.body) as StatusBody) : (e.body as StatusBody);
    assert.equal(body.kind, 'Status');
    assert.equal(body.status, 'Failure');
    assert.equal(body.code, code);
    return body;
  }
  assert.fail(`expected HTTP ${code}, but the call succeeded`);
}

export function clients(kc: KubeConfig): { core: CoreV1Api; custom: CustomObjectsApi; crds: ApiextensionsV1Api } {
  return {
    core: kc.makeApiClient(CoreV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    crds: kc.makeApiClient(ApiextensionsV1Api),
  };
}

let counter = 0;
export function uniqueName(prefix: string): string {
  counter++;
  return `${prefix}-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 6)}`;
}

export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface WatchEvent {
  type: string;
  object: Record<string, unknown> & { metadata?: Record<string, unknown>; code?: number; reason?: string };
}

/** Collects a watch's events until stopped or the server ends the stream. */
export async function collectWatch(
  kc: KubeConfig,
  path: string,
  query: Record<string, string | number | boolean | undefined>,
): Promise<{ events: WatchEvent[]; ended: Promise<unknown>; stop(): void }> {
  const events: WatchEvent[] = [];
  let resolveEnded: (v: unknown) => void = () => {};
  const ended = new Promise((r) => (resolveEnded = r));
  const controller = await new Watch(kc).watch(
    path,
    query,
    (type, object) => events.push({ type, object: object as WatchEvent['object'] }),
    (err) => resolveEnded(err ?? null),
  );
  return { events, ended, stop: () => controller.abort() };
}

export async function createNamespace(core: CoreV1Api, prefix: string): Promise<string> {
  const name = uniqueName(prefix);
  await core.createNamespace({ body: { metadata: { name } } });
  await eventually(
    'the default service account',
    async () => (await core.readNamespacedServiceAccount({ name: 'default', namespace: name })) ?? undefined,
  );
  return name;
}

/**
 * Creates a CRD from its plain JSON form. client-node's typed CRD model would drop `x-kubernetes-*` and `enum` keys
 * (its TypeScript names differ), so the request is raw.
 */
export async function createCrd(cluster: TestCluster, body: Record<string, unknown>): Promise<void> {
  const res = await cluster.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 201 && res.status !== 409) throw new Error(`creating CRD: HTTP ${res.status}: ${res.text}`);
}

export async function ensureWidgetCrd(cluster: TestCluster, crds: ApiextensionsV1Api): Promise<void> {
  await createCrd(cluster, fixture('widget-crd.yaml'));
  await eventually('the Widget CRD to be established', async () => {
    const crd = await crds.readCustomResourceDefinition({ name: 'widgets.example.tracejob.dev' });
    return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? crd : undefined;
  });
}

export function mergePatch() {
  return setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
}

export const widgets = { group: 'example.tracejob.dev', version: 'v1', plural: 'widgets' };

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import * as yaml from 'js-yaml';
import type { Logger } from '../log.ts';
import { Controllers } from './controllers.ts';
import { WorkloadControllers } from './workloads.ts';
import {
  aggregatedDiscovery,
  aggregatedMediaType,
  apiGroup,
  groupList,
  resourceList,
  versionInfo,
} from './discovery.ts';
import { ApiError, badRequest, conflict, expired, methodNotAllowed, resourceNotFound } from './errors.ts';
import type { ExpireMode, Faults, WatchFilter } from './faults.ts';
import { Objects, subjectOf, type DeleteOptions, type FieldValidation, type WriteOptions } from './objects.ts';
import { openApiV2, openApiV3Root, openApiV3GroupVersion } from './openapi.ts';
import { isObject, type JsonObject } from './patch.ts';
import { decodeProtobufBody, isProtobuf } from './protobuf.ts';
import { PodLogError, type PodLogOptions, type PodLogSource } from './pod-logs.ts';
import { Registry } from './registry.ts';
import { apiVersionOf, type ResourceType } from './resources.ts';
import { authorize, forbiddenMessage, identityOf, reviewResponse, type Identity } from './reviews.ts';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';
import type { KubeObject, Store, StoreEvent } from './store.ts';
import { toTable, type IncludeObject } from './table.ts';

/** kube-apiserver's request body limit. */
const maxBodyBytes = 3 * 1024 * 1024;

export interface ApiServerOptions {
  store: Store;
  faults: Faults;
  logger: Logger;
  logSources?: PodLogSource[];
  bookmarkIntervalMs?: number;
}

interface Watch {
  type: ResourceType;
  res: ServerResponse;
  silent: boolean;
  close(how: 'reset' | 'end'): void;
}

interface Route {
  group: string;
  version: string;
  resource: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}

/** The HTTP face of the development cluster's API server. */
export class ApiServer {
  readonly objects: Objects;
  readonly registry: Registry;
  private readonly store: Store;
  private readonly faults: Faults;
  private readonly log: Logger;
  private readonly logSources: PodLogSource[];
  private readonly bookmarkIntervalMs: number;
  private readonly controllers: Controllers;
  private readonly workloads: WorkloadControllers;
  private readonly watches = new Set<Watch>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;

  constructor(options: ApiServerOptions) {
    this.store = options.store;
    this.faults = options.faults;
    this.log = options.logger;
    this.logSources = options.logSources ?? [];
    this.bookmarkIntervalMs = options.bookmarkIntervalMs ?? 5000;
    this.registry = new Registry();
    this.objects = new Objects({ store: this.store, registry: this.registry });
    this.controllers = new Controllers({ objects: this.objects, logger: this.log });
    this.workloads = new WorkloadControllers({ objects: this.objects, logger: this.log });
  }

  addLogSource(source: PodLogSource): void {
    this.logSources.push(source);
  }

  listen(port: number, host = '127.0.0.1'): Promise<number> {
    const server = createServer({ keepAliveTimeout: 30_000, requestTimeout: 0 }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => this.fail(res, err));
    });
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.on('clientError', (_err, socket) => socket.destroy());
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  }

  async close(): Promise<void> {
    this.controllers.stop();
    this.workloads.stop();
    for (const w of [...this.watches]) w.close('reset');
    const server = this.server;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  dropWatches(filter: WatchFilter, how: 'reset' | 'end'): number {
    const matching = [...this.watches].filter((w) => watchMatches(w.type, filter));
    for (const w of matching) w.close(how);
    return matching.length;
  }

  silenceWatches(filter: WatchFilter): number {
    const matching = [...this.watches].filter((w) => watchMatches(w.type, filter));
    for (const w of matching) w.silent = true;
    return matching.length;
  }

  expireResourceVersions(mode: ExpireMode): void {
    this.store.expireHistory();
    const rv = this.store.resourceVersion;
    for (const w of [...this.watches]) {
      if (mode === 'stream' && !w.silent) writeEvent(w.res, { type: 'ERROR', object: expiredStatus(rv) });
      w.close('end');
    }
  }

  private fail(res: ServerResponse, err: unknown): void {
    if (!(err instanceof ApiError))
      this.log.error('devcluster request failed', { error: err instanceof Error ? err.stack : String(err) });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const e =
      err instanceof ApiError ? err : new ApiError(500, 'InternalError', `Internal error occurred: ${String(err)}`);
    sendJson(res, e.code, e.toStatus());
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://devcluster');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (path === '/healthz' || path === '/readyz' || path === '/livez') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end('ok');
      return;
    }
    if (path === '/version') return sendJson(res, 200, versionInfo());
    if (path.startsWith('/_devcluster/faults')) return this.faultEndpoint(req, res, path);
    if (path === '/openapi/v2') return sendJson(res, 200, openApiV2(this.registry.all()));
    if (path === '/openapi/v3') return sendJson(res, 200, openApiV3Root(this.registry.all()));
    if (path.startsWith('/openapi/v3/')) {
      const doc = openApiV3GroupVersion(this.registry.all(), path.slice('/openapi/v3/'.length));
      if (!doc) throw resourceNotFound();
      return sendJson(res, 200, doc);
    }
    const accept = req.headers.accept ?? '';
    if (path === '/api' || path === '/apis') {
      if (accept.includes('as=APIGroupDiscoveryList')) {
        res.writeHead(200, { 'Content-Type': aggregatedMediaType, Vary: 'Accept' });
        res.end(JSON.stringify(aggregatedDiscovery(this.registry.all(), path === '/api')));
        return;
      }
      if (path === '/api')
        return sendJson(res, 200, {
          kind: 'APIVersions',
          versions: ['v1'],
          serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: req.headers.host ?? '' }],
        });
      return sendJson(res, 200, groupList(this.registry.all()));
    }
    const seg = path.split('/').filter(Boolean).map(decodeURIComponent);
    let group: string;
    let rest: string[];
    let version: string | undefined;
    if (seg[0] === 'api') {
      group = '';
      version = seg[1];
      rest = seg.slice(2);
    } else if (seg[0] === 'apis') {
      group = seg[1] ?? '';
      version = seg[2];
      rest = seg.slice(3);
      if (version === undefined) {
        const versions = [
          ...new Set(
            this.registry
              .all()
              .filter((t) => t.group === group)
              .map((t) => t.version),
          ),
        ];
        if (!versions.length) throw resourceNotFound();
        return sendJson(res, 200, apiGroup(group, versions));
      }
    } else throw resourceNotFound();
    const inVersion = this.registry.all().filter((t) => t.group === group && t.version === version);
    if (!inVersion.length) throw resourceNotFound();
    if (rest.length === 0)
      return sendJson(res, 200, resourceList(group ? `${group}/${version}` : (version ?? 'v1'), inVersion));
    const route = parseRoute(group, version ?? '', rest);
    const type = route && this.registry.find(group, route.version, route.resource);
    if (!route || !type || (route.namespace !== undefined && !type.namespaced && !(type.resource === 'namespaces')))
      throw resourceNotFound();
    if (route.subresource && !type.subresources.includes(route.subresource)) throw resourceNotFound();
    return this.resource(req, res, url, type, route, identityOf(req));
  }

  private async resource(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    t: ResourceType,
    r: Route,
    who: Identity,
  ): Promise<void> {
    const q = url.searchParams;
    const method = req.method ?? 'GET';
    const watch = q.get('watch') === 'true' || q.get('watch') === '1';
    const verb =
      method === 'GET'
        ? r.name
          ? 'get'
          : watch
            ? 'watch'
            : 'list'
        : method === 'POST'
          ? 'create'
          : method === 'PUT'
            ? 'update'
            : method === 'PATCH'
              ? 'patch'
              : method === 'DELETE'
                ? r.name
                  ? 'delete'
                  : 'deletecollection'
                : method;
    const fault = this.faults.match({
      verb,
      group: t.group,
      resource: t.resource,
      subresource: r.subresource,
      namespace: r.namespace,
      name: r.name,
    });
    if (fault) {
      await drain(req);
      return injectFailure(res, fault.status, fault.message, fault.retryAfterSeconds, t, r.name ?? '');
    }
    // Namespaces are special in kube-apiserver's request attributes: a request on namespace "x" is in namespace "x".
    const attrs = {
      verb,
      group: t.group,
      resource: t.resource,
      subresource: r.subresource,
      name: r.name,
      namespace: r.namespace ?? (t.group === '' && t.resource === 'namespaces' ? r.name : undefined),
    };
    if (!authorize(this.store, who, attrs).allowed) {
      await drain(req);
      throw new ApiError(403, 'Forbidden', forbiddenMessage(who, attrs), {
        name: r.name,
        group: t.group || undefined,
        kind: t.resource,
      });
    }
    const body = method === 'GET' ? undefined : await readBody(req);
    const write: WriteOptions = {
      dryRun: q.getAll('dryRun').includes('All'),
      fieldValidation: (q.get('fieldValidation') as FieldValidation | null) ?? 'Warn',
      // Server-side apply must name its manager; other writes default to the User-Agent's.
      fieldManager:
        q.get('fieldManager') ??
        ((req.headers['content-type'] ?? '').startsWith('application/apply-patch')
          ? undefined
          : managerFromUserAgent(req.headers['user-agent'])),
      force: q.get('force') === 'true',
    };
    if (write.fieldValidation && !['Strict', 'Warn', 'Ignore'].includes(write.fieldValidation))
      throw badRequest(`fieldValidation must be one of Strict, Warn, Ignore; got ${write.fieldValidation}`);
    if (t.createOnly) {
      if (verb !== 'create') throw methodNotAllowed(verb);
      return sendJson(res, 201, reviewResponse(t, parseBody(req, body), this.store, who, r.namespace));
    }
    const ns = r.namespace;
    switch (verb) {
      case 'get': {
        if (r.subresource === 'log') return this.podLog(res, t, ns, r.name as string, q);
        const o = this.objects.present(t, this.objects.get(t, ns, r.name as string));
        return this.respondObject(req, res, 200, t, o, []);
      }
      case 'list': {
        const limit = q.get('limit');
        const list = this.objects.list(t, ns, {
          labelSelector: q.get('labelSelector') ?? undefined,
          fieldSelector: q.get('fieldSelector') ?? undefined,
          limit: limit ? Number(limit) : undefined,
          continue: q.get('continue') ?? undefined,
        });
        const accept = req.headers.accept ?? '';
        if (accept.includes('as=Table'))
          return sendJson(res, 200, toTable(t, list.items, list.metadata, includeObject(q)));
        if (accept.includes('as=PartialObjectMetadataList'))
          return sendJson(res, 200, {
            kind: 'PartialObjectMetadataList',
            apiVersion: 'meta.k8s.io/v1',
            metadata: list.metadata,
            items: list.items.map((o) => ({
              kind: 'PartialObjectMetadata',
              apiVersion: 'meta.k8s.io/v1',
              metadata: o.metadata,
            })),
          });
        return sendText(
          res,
          200,
          `{"kind":${JSON.stringify(t.listKind)},"apiVersion":${JSON.stringify(apiVersionOf(t))},"metadata":${JSON.stringify(list.metadata)},"items":[${list.items.map(cachedJson).join(',')}]}`,
        );
      }
      case 'watch':
        return this.watch(req, res, t, ns, q);
      case 'create': {
        if (r.subresource === 'binding') return this.bind(res, t, ns, r.name as string, parseBody(req, body));
        if (r.subresource === 'eviction') return this.evict(res, t, ns, r.name as string, parseBody(req, body));
        if (r.name) throw methodNotAllowed('create');
        const result = this.objects.create(t, ns, parseBody(req, body), write);
        return this.respondObject(req, res, 201, t, result.object, result.warnings);
      }
      case 'update': {
        if (!r.name) throw methodNotAllowed('update');
        if (r.subresource === 'finalize') return this.finalizeNamespace(req, res, t, r.name, parseBody(req, body));
        const result = this.objects.update(t, ns, r.name, parseBody(req, body), write, r.subresource);
        return this.respondObject(req, res, result.created ? 201 : 200, t, result.object, result.warnings);
      }
      case 'patch': {
        if (!r.name) throw methodNotAllowed('patch');
        const contentType = req.headers['content-type'] ?? '';
        const patch = parsePatchBody(contentType, body ?? Buffer.alloc(0));
        const result = this.objects.patch(t, ns, r.name, contentType, patch, write, r.subresource);
        return this.respondObject(req, res, result.created ? 201 : 200, t, result.object, result.warnings);
      }
      case 'delete': {
        const options = deleteOptions(q, body && body.length ? parseBody(req, body) : undefined);
        const { object, gone } = this.objects.delete(t, ns, r.name as string, options);
        if (gone && !returnsDeletedObject(t))
          return sendJson(res, 200, {
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Success',
            details: {
              name: object.metadata.name,
              group: t.group || undefined,
              kind: t.resource,
              uid: object.metadata.uid,
            },
          });
        return this.respondObject(req, res, 200, t, object, []);
      }
      case 'deletecollection': {
        const options = deleteOptions(q, body && body.length ? parseBody(req, body) : undefined);
        const list = this.objects.list(t, ns, {
          labelSelector: q.get('labelSelector') ?? undefined,
          fieldSelector: q.get('fieldSelector') ?? undefined,
        });
        for (const o of list.items) {
          try {
            this.objects.delete(t, o.metadata.namespace, o.metadata.name, options);
          } catch (err) {
            if (!(err instanceof ApiError && err.code === 404)) throw err;
          }
        }
        return sendJson(res, 200, {
          kind: t.listKind,
          apiVersion: apiVersionOf(t),
          metadata: { resourceVersion: this.store.resourceVersion },
          items: list.items,
        });
      }
      default:
        throw methodNotAllowed(verb);
    }
  }

  private respondObject(
    req: IncomingMessage,
    res: ServerResponse,
    code: number,
    t: ResourceType,
    o: KubeObject,
    warnings: string[],
  ): void {
    if (warnings.length)
      res.setHeader(
        'Warning',
        warnings.map((w) => `299 - ${JSON.stringify(w)}`),
      );
    const accept = req.headers.accept ?? '';
    if (accept.includes('as=Table'))
      return sendJson(res, code, toTable(t, [o], { resourceVersion: o.metadata.resourceVersion }, 'Metadata'));
    if (accept.includes('as=PartialObjectMetadata'))
      return sendJson(res, code, { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata });
    sendJson(res, code, o);
  }

  private watch(
    req: IncomingMessage,
    res: ServerResponse,
    t: ResourceType,
    namespace: string | undefined,
    q: URLSearchParams,
  ): void {
    const labels = parseLabelSelector(q.get('labelSelector') ?? undefined);
    const fields = parseFieldSelector(q.get('fieldSelector') ?? undefined, t.fields, t.resource);
    const rvParam = q.get('resourceVersion') ?? '';
    const sendInitial = q.get('sendInitialEvents') === 'true';
    const bookmarks = q.get('allowWatchBookmarks') === 'true';
    const asTable = (req.headers.accept ?? '').includes('as=Table');
    if (rvParam !== '' && !/^\d+$/.test(rvParam))
      throw new ApiError(
        400,
        'BadRequest',
        `resourceVersion: Invalid value: "${rvParam}": must be a non-negative integer`,
      );
    const since = rvParam === '' || rvParam === '0' ? undefined : Number(rvParam);
    const replay = since === undefined || sendInitial ? undefined : this.store.eventsSince(since);
    if (since !== undefined && !sendInitial && replay === undefined && this.faults.expireMode === 'http')
      throw expired(`too old resource version: ${since} (${this.store.oldestResumable})`);
    const visible = (o: KubeObject): boolean =>
      (!t.namespaced || namespace === undefined || o.metadata.namespace === namespace) &&
      labels(o.metadata.labels) &&
      fields(o as JsonObject);
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Transfer-Encoding': 'chunked',
      'Cache-Control': 'no-cache, private',
    });
    res.flushHeaders();
    let headersSentAsTable = false;
    const send = (type: string, o: KubeObject): void => {
      if (watcher.silent) return;
      let object: JsonObject = o;
      if (asTable && type !== 'BOOKMARK') {
        object = toTable(
          t,
          [o],
          { resourceVersion: o.metadata.resourceVersion },
          includeObject(q),
          !headersSentAsTable,
        );
        headersSentAsTable = true;
      }
      writeEvent(res, { type, object });
      if (res.writableLength > 32 * 1024 * 1024) watcher.close('reset');
    };
    const onEvent = (e: StoreEvent): void => {
      if (e.storageKey !== t.storageKey) return;
      const now = this.objects.present(t, e.object);
      const before = e.previous && e.type !== 'DELETED' ? this.objects.present(t, e.previous) : undefined;
      const isVisible = visible(now);
      if (e.type === 'ADDED') {
        if (isVisible) send('ADDED', now);
      } else if (e.type === 'DELETED') {
        if (isVisible) send('DELETED', now);
      } else {
        const wasVisible = before ? visible(before) : false;
        if (isVisible && wasVisible) send('MODIFIED', now);
        else if (isVisible) send('ADDED', now);
        else if (wasVisible) send('DELETED', now);
      }
    };
    let unsubscribe = (): void => {};
    const timers: NodeJS.Timeout[] = [];
    const watcher: Watch = {
      type: t,
      res,
      silent: false,
      close: (how) => {
        cleanup();
        if (how === 'reset') res.destroy();
        else res.end();
      },
    };
    const cleanup = (): void => {
      unsubscribe();
      for (const timer of timers) clearTimeout(timer);
      this.watches.delete(watcher);
    };
    res.on('close', cleanup);
    if (since !== undefined && !sendInitial && replay === undefined) {
      writeEvent(res, { type: 'ERROR', object: expiredStatus(String(since)) });
      res.end();
      return;
    }
    this.watches.add(watcher);
    if (replay) for (const e of replay) onEvent(e);
    else
      for (const o of this.store.list(t.storageKey, t.namespaced ? namespace : undefined)) {
        const shown = this.objects.present(t, o);
        if (visible(shown)) send('ADDED', shown);
      }
    const bookmark = (annotations?: Record<string, string>): void =>
      send('BOOKMARK', {
        kind: t.kind,
        apiVersion: apiVersionOf(t),
        metadata: { resourceVersion: this.store.resourceVersion, ...(annotations ? { annotations } : {}) },
      } as unknown as KubeObject);
    if (sendInitial) bookmark({ 'k8s.io/initial-events-end': 'true' });
    unsubscribe = this.store.subscribe(onEvent);
    if (bookmarks) {
      const tick = (): void => {
        bookmark();
        timers.push(setTimeout(tick, this.bookmarkIntervalMs));
      };
      timers.push(setTimeout(tick, this.bookmarkIntervalMs));
    }
    const timeout = Number(q.get('timeoutSeconds') ?? '0');
    if (timeout > 0) timers.push(setTimeout(() => watcher.close('end'), timeout * 1000));
  }

  private async podLog(
    res: ServerResponse,
    t: ResourceType,
    ns: string | undefined,
    name: string,
    q: URLSearchParams,
  ): Promise<void> {
    const pod = this.objects.get(t, ns, name);
    const containers = (((pod.spec as JsonObject)?.containers ?? []) as JsonObject[]).map((c) => String(c.name));
    const initContainers = (((pod.spec as JsonObject)?.initContainers ?? []) as JsonObject[]).map((c) =>
      String(c.name),
    );
    let container = q.get('container') ?? '';
    if (!container) {
      const annotated = pod.metadata.annotations?.['kubectl.kubernetes.io/default-container'];
      if (containers.length === 1) container = containers[0] as string;
      else if (annotated && containers.includes(annotated)) container = annotated;
      else
        throw badRequest(
          `a container name must be specified for pod ${name}, choose one of: [${containers.join(' ')}]`,
        );
    }
    if (!containers.includes(container) && !initContainers.includes(container))
      throw badRequest(`container ${container} is not valid for pod ${name}`);
    const number = (key: string): number | undefined => {
      const v = q.get(key);
      if (v === null) return undefined;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw badRequest(`${key} must be a non-negative integer; got "${v}"`);
      return n;
    };
    const options: PodLogOptions = {
      container,
      follow: q.get('follow') === 'true',
      previous: q.get('previous') === 'true',
      timestamps: q.get('timestamps') === 'true',
      tailLines: number('tailLines'),
      sinceSeconds: number('sinceSeconds'),
      sinceTime: q.get('sinceTime') ?? undefined,
      limitBytes: number('limitBytes'),
    };
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    let stream: AsyncIterable<Uint8Array | string> | undefined;
    try {
      for (const source of this.logSources) {
        stream = await source.open(pod, options, abort.signal);
        if (stream) break;
      }
    } catch (err) {
      if (err instanceof PodLogError)
        throw new ApiError(err.statusCode, err.statusCode === 404 ? 'NotFound' : 'BadRequest', err.message);
      throw err;
    }
    if (!stream) {
      const node = (pod.spec as JsonObject)?.nodeName;
      throw badRequest(
        node
          ? `no kubelet serves logs for node ${String(node)}`
          : `container "${container}" in pod "${name}" is waiting to start: pod is not scheduled`,
      );
    }
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    let sent = 0;
    try {
      for await (const chunk of stream) {
        if (abort.signal.aborted) break;
        let data = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk);
        if (options.limitBytes !== undefined) {
          data = data.subarray(0, Math.max(0, options.limitBytes - sent));
          if (data.length === 0) break;
        }
        sent += data.length;
        if (!res.write(data)) await new Promise<void>((resolve) => res.once('drain', () => resolve()));
      }
    } finally {
      res.end();
    }
  }

  private bind(res: ServerResponse, t: ResourceType, ns: string | undefined, name: string, body: unknown): void {
    const target = isObject(body) && isObject(body.target) ? body.target : undefined;
    if (!target || typeof target.name !== 'string' || target.name === '')
      throw badRequest('a Binding needs target.name (the node)');
    const pod = this.objects.get(t, ns, name);
    const spec = (pod.spec ?? {}) as JsonObject;
    if (spec.nodeName)
      throw conflict(subjectOf(t, name), `pod ${name} is already assigned to node "${String(spec.nodeName)}"`);
    if (pod.metadata.deletionTimestamp)
      throw conflict(subjectOf(t, name), `pod ${name} is being deleted, cannot be assigned to a host`);
    const status = (pod.status ?? {}) as JsonObject;
    const conditions = ((status.conditions ?? []) as JsonObject[]).filter((c) => c.type !== 'PodScheduled');
    conditions.push({
      type: 'PodScheduled',
      status: 'True',
      lastProbeTime: null,
      lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    });
    this.store.put(t.storageKey, {
      ...pod,
      spec: { ...spec, nodeName: target.name },
      status: { ...status, conditions },
    });
    sendJson(res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
  }

  private evict(res: ServerResponse, t: ResourceType, ns: string | undefined, name: string, body: unknown): void {
    const options =
      isObject(body) && isObject(body.deleteOptions) ? deleteOptions(new URLSearchParams(), body.deleteOptions) : {};
    this.objects.delete(t, ns, name, options);
    sendJson(res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
  }

  private finalizeNamespace(
    req: IncomingMessage,
    res: ServerResponse,
    t: ResourceType,
    name: string,
    body: unknown,
  ): void {
    const ns = this.objects.get(t, undefined, name);
    const finalizers =
      isObject(body) && isObject(body.spec) && Array.isArray(body.spec.finalizers) ? body.spec.finalizers : [];
    const next = { ...ns, spec: { ...((ns.spec as JsonObject) ?? {}), finalizers } } as KubeObject;
    const out =
      ns.metadata.deletionTimestamp && finalizers.length === 0 && !(ns.metadata.finalizers ?? []).length
        ? this.store.remove(t.storageKey, next)
        : this.store.put(t.storageKey, next);
    this.respondObject(req, res, 200, t, this.objects.present(t, out), []);
  }

  private async faultEndpoint(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (req.method !== 'POST') throw methodNotAllowed(req.method ?? '');
    const body = await readBody(req);
    const args = (body.length ? JSON.parse(body.toString('utf8')) : {}) as JsonObject;
    const action = path.slice('/_devcluster/faults/'.length);
    const filter = { resource: typeof args.resource === 'string' ? args.resource : undefined };
    let result: unknown;
    try {
      switch (action) {
        case 'fail-requests':
          result = this.faults.failRequests(args as never);
          break;
        case 'drop-watches':
          result = this.faults.dropWatches(filter);
          break;
        case 'close-watches':
          result = this.faults.closeWatches(filter);
          break;
        case 'silence-watches':
          result = this.faults.silenceWatches(filter);
          break;
        case 'expire':
          this.faults.expireResourceVersions(args.mode === 'http' ? 'http' : 'stream');
          break;
        case 'reset':
          this.faults.reset();
          break;
        case 'restart':
          // Answer first: the restart closes this very connection.
          sendJson(res, 202, { action, accepted: true });
          setImmediate(
            () =>
              void this.faults
                .restart()
                .catch((err: unknown) => this.log.error('devcluster restart failed', { error: String(err) })),
          );
          return;
        default:
          throw badRequest(
            `unknown fault action "${action}"; accepted: fail-requests, drop-watches, close-watches, silence-watches, expire, reset, restart`,
          );
      }
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw badRequest((err as Error).message);
    }
    sendJson(res, 200, { action, result: result ?? null });
  }
}

/** Without ?fieldManager, kube-apiserver names the manager after the client's User-Agent up to its first '/'. */
function managerFromUserAgent(userAgent: string | undefined): string {
  return (userAgent ?? 'unknown').split('/')[0]?.slice(0, 128) || 'unknown';
}

function watchMatches(t: ResourceType, filter: WatchFilter): boolean {
  return (
    filter.resource === undefined || filter.resource === t.resource || filter.resource === `${t.resource}.${t.group}`
  );
}

function returnsDeletedObject(t: ResourceType): boolean {
  return Boolean(t.crd) || (t.group === '' && (t.resource === 'pods' || t.resource === 'namespaces'));
}

function includeObject(q: URLSearchParams): IncludeObject {
  const v = q.get('includeObject');
  return v === 'None' || v === 'Object' ? v : 'Metadata';
}

function expiredStatus(rv: string): JsonObject {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `too old resource version: ${rv}`,
    reason: 'Expired',
    code: 410,
  };
}

function writeEvent(res: ServerResponse, event: { type: string; object: JsonObject }): void {
  if (!res.writableEnded && !res.destroyed)
    res.write(`{"type":${JSON.stringify(event.type)},"object":${cachedJson(event.object)}}\n`);
}

const jsonText = new WeakMap<object, string>();

/** Stored objects are immutable, so their JSON is computed once however many lists and watchers send them. */
function cachedJson(o: object): string {
  let text = jsonText.get(o);
  if (text === undefined) {
    text = JSON.stringify(o);
    jsonText.set(o, text);
  }
  return text;
}

function sendText(res: ServerResponse, code: number, text: string): void {
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  sendText(res, code, JSON.stringify(body));
}

function injectFailure(
  res: ServerResponse,
  code: number,
  message: string | undefined,
  retryAfter: number | undefined,
  t: ResourceType,
  name: string,
): void {
  const reasons: Record<number, string> = {
    409: 'Conflict',
    429: 'TooManyRequests',
    500: 'InternalError',
    503: 'ServiceUnavailable',
    504: 'Timeout',
  };
  const details: JsonObject = { name, group: t.group, kind: t.resource };
  if (retryAfter !== undefined || code === 429) details.retryAfterSeconds = retryAfter ?? 1;
  if (details.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(details.retryAfterSeconds));
  sendJson(res, code, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message:
      message ??
      (code === 429
        ? 'Too many requests, please try again later.'
        : 'Internal error occurred: injected by the development cluster'),
    reason: reasons[code] ?? 'InternalError',
    details,
    code,
  });
}

async function drain(req: IncomingMessage): Promise<void> {
  for await (const _ of req) void _;
}

/** Discards the rest of an oversized body so the connection can answer the 413. */
function entityTooLarge(req: IncomingMessage): ApiError {
  req.resume();
  return new ApiError(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${maxBodyBytes}`);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > maxBodyBytes) throw entityTooLarge(req);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBodyBytes) throw entityTooLarge(req);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function parseBody(req: IncomingMessage, body: Buffer | undefined): unknown {
  if (isProtobuf(req.headers['content-type'] ?? '')) return decodeProtobufBody(body ?? Buffer.alloc(0));
  const text = (body ?? Buffer.alloc(0)).toString('utf8');
  if (text.trim() === '') throw badRequest('the request body is empty; expected an object');
  const type = (req.headers['content-type'] ?? 'application/json').split(';')[0]?.trim() ?? '';
  if (type === 'application/yaml' || type === 'application/apply-patch+yaml') return loadYaml(text);
  if (type !== 'application/json' && type !== '' && type !== '*/*')
    throw new ApiError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`,
    );
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw badRequest(`error decoding JSON: ${(err as Error).message}`);
  }
}

function loadYaml(text: string): unknown {
  try {
    return yaml.load(text);
  } catch (err) {
    throw badRequest(`error decoding YAML: ${(err as Error).message.split('\n')[0]}`);
  }
}

function parsePatchBody(contentType: string, body: Buffer): unknown {
  const type = contentType.split(';')[0]?.trim() ?? '';
  const text = body.toString('utf8');
  if (text.trim() === '') throw badRequest('the patch is empty');
  if (type === 'application/apply-patch+yaml') return loadYaml(text);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw badRequest(`error decoding patch: ${(err as Error).message}`);
  }
}

function deleteOptions(q: URLSearchParams, body: unknown): DeleteOptions {
  const o: DeleteOptions = {};
  const b = isObject(body) ? body : {};
  const grace = q.get('gracePeriodSeconds') ?? (b.gracePeriodSeconds as number | undefined);
  if (grace !== undefined && grace !== null) {
    const n = Number(grace);
    if (!Number.isInteger(n)) throw badRequest(`gracePeriodSeconds must be an integer; got ${String(grace)}`);
    o.gracePeriodSeconds = n;
  }
  let policy = q.get('propagationPolicy') ?? (b.propagationPolicy as string | undefined);
  const orphan = q.get('orphanDependents') ?? b.orphanDependents;
  if (policy === undefined && (orphan === 'true' || orphan === true)) policy = 'Orphan';
  if (policy !== undefined && policy !== null) {
    if (!['Foreground', 'Background', 'Orphan'].includes(policy))
      throw badRequest(`propagationPolicy must be Foreground, Background or Orphan; got ${policy}`);
    o.propagationPolicy = policy as DeleteOptions['propagationPolicy'];
  }
  if (isObject(b.preconditions)) o.preconditions = b.preconditions as DeleteOptions['preconditions'];
  o.dryRun = q.getAll('dryRun').includes('All') || (Array.isArray(b.dryRun) && b.dryRun.includes('All'));
  return o;
}

function parseRoute(group: string, version: string, rest: string[]): Route | undefined {
  if (
    rest[0] === 'namespaces' &&
    rest.length >= 3 &&
    !(group === '' && rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize'))
  ) {
    if (rest.length > 5) return undefined;
    return { group, version, namespace: rest[1], resource: rest[2] as string, name: rest[3], subresource: rest[4] };
  }
  if (rest.length > 3) return undefined;
  return { group, version, resource: rest[0] as string, name: rest[1], subresource: rest[2] };
}

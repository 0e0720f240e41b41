import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import S3rver from 's3rver';

export const ACCESS_KEY_ID = 'S3RVER';
export const SECRET_ACCESS_KEY = 'S3RVER';
export const CREDENTIALS_ENV = { AWS_ACCESS_KEY_ID: ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY };

/** A real S3-protocol server (s3rver) on loopback with its own temporary store. */
export async function startS3rver(buckets: string[]): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const directory = await mkdtemp(join(tmpdir(), 'tracejob-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const address = (await server.run()) as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    close: async () => {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

export interface SeenRequest {
  method: string;
  url: string;
  /** "put-object", "create-multipart", "upload-part", "complete-multipart", "abort-multipart", "head", "get", ... */
  operation: string;
  partNumber?: number;
  uploadId?: string;
  headers: http.IncomingHttpHeaders;
}

/**
 * What the proxy does with one request: forward it, answer it with an S3 error, stall before forwarding, or cut
 * the connection after part of the body arrived.
 */
export type Fault =
  | { kind: 'pass' }
  | { kind: 'error'; status: number; code: string }
  | { kind: 'respond'; status: number; body: string }
  | { kind: 'stall'; ms: number }
  | { kind: 'reset'; afterBytes: number }
  /** Forward only the first bytes of the body, as a broken gateway might, while the client sees success. */
  | { kind: 'truncate'; keepBytes: number };

export interface FaultProxy {
  endpoint: string;
  requests: SeenRequest[];
  /** Upload IDs the server handed out, and which of them were completed or aborted. */
  createdUploads: Set<string>;
  completedUploads: Set<string>;
  abortedUploads: Set<string>;
  setFault: (decide: (request: SeenRequest, index: number) => Fault) => void;
  close: () => Promise<void>;
}

function describe(method: string, url: string, headers: http.IncomingHttpHeaders): SeenRequest {
  const query = new URL(url, 'http://x').searchParams;
  const uploadId = query.get('uploadId') ?? undefined;
  const partNumber = query.has('partNumber') ? Number(query.get('partNumber')) : undefined;
  let operation = method.toLowerCase();
  if (method === 'POST' && query.has('uploads')) operation = 'create-multipart';
  else if (method === 'PUT' && uploadId && partNumber) operation = 'upload-part';
  else if (method === 'POST' && uploadId) operation = 'complete-multipart';
  else if (method === 'DELETE' && uploadId) operation = 'abort-multipart';
  else if (method === 'POST' && query.has('delete')) operation = 'delete-objects';
  else if (method === 'GET' && query.has('uploads')) operation = 'list-multipart';
  else if (method === 'PUT') operation = 'put-object';
  return { method, url, operation, headers, ...(uploadId ? { uploadId } : {}), ...(partNumber ? { partNumber } : {}) };
}

/**
 * A loopback HTTP proxy in front of s3rver that injects faults and records the S3 operations it saw. s3rver does
 * not implement AbortMultipartUpload, so the proxy answers it the way S3 does (204) and records it: the property
 * under test is that the client sends it for every multipart upload it does not complete.
 */
export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  let decide: (request: SeenRequest, index: number) => Fault = () => ({ kind: 'pass' });
  const proxy: Omit<FaultProxy, 'endpoint' | 'close'> = {
    requests: [],
    createdUploads: new Set(),
    completedUploads: new Set(),
    abortedUploads: new Set(),
    setFault: (next) => (decide = next),
  };
  const server = http.createServer((req, res) => {
    const seen = describe(req.method ?? 'GET', req.url ?? '/', req.headers);
    const index = proxy.requests.push(seen) - 1;
    const fault = decide(seen, index);
    if (seen.operation === 'abort-multipart' && fault.kind === 'pass') {
      req.resume();
      req.on('end', () => {
        proxy.abortedUploads.add(seen.uploadId!);
        res.writeHead(204).end();
      });
      return;
    }
    if (fault.kind === 'error') {
      req.resume();
      req.on('end', () => {
        res
          .writeHead(fault.status, { 'content-type': 'application/xml' })
          .end(`<?xml version="1.0"?><Error><Code>${fault.code}</Code><Message>injected</Message></Error>`);
      });
      return;
    }
    if (fault.kind === 'respond') {
      req.resume();
      req.on('end', () => res.writeHead(fault.status, { 'content-type': 'application/xml' }).end(fault.body));
      return;
    }
    if (fault.kind === 'reset') {
      let received = 0;
      req.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received >= fault.afterBytes) req.socket.destroy();
      });
      return;
    }
    const forward = (body?: Buffer) => {
      const headers = body ? { ...req.headers, 'content-length': String(body.length) } : req.headers;
      const upstreamRequest = http.request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
        (upstreamResponse) => {
          const chunks: Buffer[] = [];
          upstreamResponse.on('data', (chunk: Buffer) => chunks.push(chunk));
          upstreamResponse.on('end', () => {
            const body = Buffer.concat(chunks);
            const ok = (upstreamResponse.statusCode ?? 500) < 300;
            if (ok && seen.operation === 'create-multipart') {
              const id = /<UploadId>([^<]+)<\/UploadId>/.exec(body.toString())?.[1];
              if (id) proxy.createdUploads.add(id);
            }
            if (ok && seen.operation === 'complete-multipart') proxy.completedUploads.add(seen.uploadId!);
            res.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers).end(body);
          });
        },
      );
      upstreamRequest.on('error', () => res.destroy());
      if (body) upstreamRequest.end(body);
      else req.pipe(upstreamRequest);
    };
    if (fault.kind === 'truncate') {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => forward(Buffer.concat(chunks).subarray(0, fault.keepBytes)));
      return;
    }
    if (fault.kind === 'stall') {
      req.pause();
      const timer = setTimeout(() => {
        if (!res.destroyed && !req.socket.destroyed) forward();
        else req.resume();
      }, fault.ms);
      req.socket.once('close', () => clearTimeout(timer));
      return;
    }
    forward();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    ...proxy,
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  } as FaultProxy;
}

export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A closed loopback port: listen, note the port, close. */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

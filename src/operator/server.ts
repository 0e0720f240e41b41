import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OperatorMetrics } from './metrics.ts';

/** `:8080`, `127.0.0.1:8080` or `0` (any free port, for tests). */
function parseAddress(address: string): { host?: string; port: number } {
  const match = /^(?:(.*):)?(\d+)$/.exec(address);
  if (!match)
    throw new Error(`--metrics-addr: ${JSON.stringify(address)} is not [host]:port; accepted: :8080, 127.0.0.1:8080`);
  const port = Number(match[2]);
  if (port > 65535) throw new Error(`--metrics-addr: port ${port} is out of range; accepted: 0..65535`);
  return { host: match[1] || undefined, port };
}

/** /healthz: the process serves. /readyz: the caches have synced. /metrics: Prometheus text. */
export async function startServer(options: {
  address: string;
  metrics: OperatorMetrics;
  ready: () => boolean;
}): Promise<{ port: number; close: () => Promise<void> }> {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok');
  });
  app.get('/readyz', (_req, res) => {
    if (options.ready()) res.type('text/plain').send('ok');
    else res.status(503).type('text/plain').send('informers not synced');
  });
  app.get('/metrics', async (_req, res) => {
    res.type(options.metrics.registry.contentType).send(await options.metrics.registry.metrics());
  });
  const { host, port } = parseAddress(options.address);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(port, host ?? '0.0.0.0', (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { silentLogger, type Logger } from '../log.ts';
import type { OperatorConfig } from './config.ts';
import { Controller, type ControllerOptions } from './controller.ts';
import { KubeEventSink } from './events.ts';
import { KubeClient } from './kube.ts';
import type { ClusterAccess } from './kubeconfig.ts';
import { LeaderElector } from './leader.ts';
import { OperatorMetrics } from './metrics.ts';
import { startServer } from './server.ts';

export { OperatorConfig, loadOperatorConfig, localConfig } from './config.ts';
export { Controller } from './controller.ts';
export { clusterAccess, type ClusterAccess } from './kubeconfig.ts';

export interface OperatorOptions {
  /** Where the API server is and how to authenticate (see `clusterAccess`). */
  access: ClusterAccess;
  config: OperatorConfig;
  logger?: Logger;
  workers?: number;
  /** `[host]:port` for /healthz, /readyz, /metrics; `0` picks a free port. */
  metricsAddr?: string;
  leaderElect?: boolean;
  identity?: string;
  leaseName?: string;
  leaseDurationSeconds?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  tuning?: Pick<ControllerOptions, 'informer' | 'queue' | 'targetCheckMs' | 'targetWaitSeconds' | 'onReconciled'>;
  /** Sees every request the operator makes, with its response code (benchmarks count writes with it). */
  onRequest?: (method: string, path: string, code: number) => void;
  signal: AbortSignal;
}

export interface RunningOperator {
  port: number;
  controller: Controller;
  metrics: OperatorMetrics;
  isLeader: () => boolean;
  /** Settles when the operator has stopped: after the signal aborted, or when leadership was lost (rejects). */
  done: Promise<void>;
}

/**
 * Starts the operator: caches, the health/metrics server, and (once leading, when leader election is on) the
 * workers. Aborting the signal shuts down in order: workers finish their current key, the lease is released,
 * informers stop, the server closes.
 */
export async function startOperator(options: OperatorOptions): Promise<RunningOperator> {
  const logger = options.logger ?? silentLogger();
  const metrics = new OperatorMetrics();
  const client = new KubeClient({
    access: options.access,
    onRequest: (method, path, code) => {
      metrics.observeRequest(method, code);
      options.onRequest?.(method, path, code);
    },
  });
  const identity = options.identity ?? `${hostname()}-${randomBytes(4).toString('hex')}`;
  const controller = new Controller({
    client,
    config: options.config,
    events: new KubeEventSink({ client, instance: identity }),
    metrics,
    workers: options.workers,
    logger,
    ...options.tuning,
  });
  const server = await startServer({
    address: options.metricsAddr ?? ':8080',
    metrics,
    ready: () => controller.hasSynced(),
  });
  const stopInformers = new AbortController();
  const informers = controller.startInformers(AbortSignal.any([options.signal, stopInformers.signal]));
  let elector: LeaderElector | undefined;

  const work = async (): Promise<void> => {
    try {
      await informers.synced;
    } catch (err) {
      if (options.signal.aborted) return; // shut down before the caches filled: nothing to stop
      throw err;
    }
    logger.info('caches synced', { traceJobs: controller.traceJobs.size, tracerPods: controller.tracerPods.size });
    if (!options.leaderElect) return controller.runWorkers(options.signal);
    elector = new LeaderElector({
      client,
      namespace: options.config.tracerNamespace,
      name: options.leaseName ?? 'tracejob-operator',
      identity,
      leaseDurationSeconds: options.leaseDurationSeconds,
      renewDeadlineMs: options.renewDeadlineMs,
      retryPeriodMs: options.retryPeriodMs,
      logger,
    });
    let lost = false;
    await elector.run(options.signal, async (leading) => {
      await controller.runWorkers(leading);
      lost = !options.signal.aborted;
    });
    // controller-runtime's rule: a replica that lost its lease exits, and comes back as a clean standby.
    if (lost) throw new Error('lost leadership');
  };

  const done = work().finally(async () => {
    stopInformers.abort();
    await informers.done.catch(() => {});
    await server.close();
    await client.close();
  });
  return {
    port: server.port,
    controller,
    metrics,
    isLeader: () => (options.leaderElect ? (elector?.isLeader ?? false) : true),
    done,
  };
}

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The operator's Prometheus metrics, on a registry of their own so that tests can run several operators. */
export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'tracejob_reconcile_total',
    help: 'Reconciles by result: success, requeue (asked to look again later), retry (failed, backed off), terminal.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'tracejob_reconcile_duration_seconds',
    help: 'Time spent in one reconcile, API calls included.',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'tracejob_workqueue_depth',
    help: 'Keys waiting for a worker.',
    registers: [this.registry],
  });
  readonly queueLatency = new Histogram({
    name: 'tracejob_workqueue_latency_seconds',
    help: 'Time a key waited in the queue before a worker took it.',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly traceJobs = new Gauge({
    name: 'tracejob_tracejobs',
    help: 'TraceJobs in the cache, by phase ("" for not yet reconciled).',
    labelNames: ['phase'] as const,
    registers: [this.registry],
  });
  readonly activeTracerPods = new Gauge({
    name: 'tracejob_tracer_pods_active',
    help: 'Tracer pods not yet Succeeded or Failed.',
    registers: [this.registry],
  });
  readonly apiRequests = new Counter({
    name: 'tracejob_api_requests_total',
    help: 'Requests to the Kubernetes API by verb and response code.',
    labelNames: ['verb', 'code'] as const,
    registers: [this.registry],
  });
  readonly apiErrors = new Counter({
    name: 'tracejob_api_errors_total',
    help: 'Failed requests to the Kubernetes API by response code (0: no response).',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly informerRestarts = new Counter({
    name: 'tracejob_informer_restarts_total',
    help: 'List/watch restarts by informer and cause.',
    labelNames: ['informer', 'cause'] as const,
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'tracejob_' });
  }

  observeRequest(method: string, code: number): void {
    this.apiRequests.inc({ verb: method, code: String(code) });
    if (code >= 400 || code === 0) this.apiErrors.inc({ code: String(code) });
  }
}

import { hostname } from 'node:os';
import type { KubeClient } from './kube.ts';
import type { EventSink } from './reconcile.ts';
import type { TraceJobObject } from './types.ts';

/** Writes core/v1 Events on the TraceJob, so `kubectl describe tracejob` shows its history. */
export class KubeEventSink implements EventSink {
  readonly #client: KubeClient;
  readonly #instance: string;

  constructor(options: { client: KubeClient; instance?: string }) {
    this.#client = options.client;
    this.#instance = options.instance ?? hostname();
  }

  async record(job: TraceJobObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date().toISOString();
    await this.#client.request('POST', `/api/v1/namespaces/${job.metadata.namespace}/events`, {
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${job.metadata.name.slice(0, 200)}.`, namespace: job.metadata.namespace },
        involvedObject: {
          apiVersion: 'tracejob.dev/v1alpha1',
          kind: 'TraceJob',
          name: job.metadata.name,
          namespace: job.metadata.namespace,
          uid: job.metadata.uid,
          resourceVersion: job.metadata.resourceVersion,
        },
        reason,
        message,
        type,
        source: { component: 'tracejob-operator' },
        reportingComponent: 'tracejob.dev/operator',
        reportingInstance: this.#instance,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
  }
}

import type { KubeObject } from './store.ts';

/** What `GET pods/NAME/log` asks for, already validated against the pod. */
export interface PodLogOptions {
  container: string;
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  tailLines?: number;
  sinceSeconds?: number;
  sinceTime?: string;
  limitBytes?: number;
}

/**
 * Supplies container logs to the API server in-process; the local kubelet implements it for the pods it runs. `open`
 * answers undefined for pods on nodes it does not serve, so several sources can be chained. Errors thrown with a
 * `statusCode` (e.g. 400 for a container that has not started) reach the client as that status.
 */
export interface PodLogSource {
  open(
    pod: KubeObject,
    options: PodLogOptions,
    signal: AbortSignal,
  ): Promise<AsyncIterable<Uint8Array | string> | undefined>;
}

export class PodLogError extends Error {
  readonly statusCode: number;
  constructor(statusCode: number, message: string) {
    super(message);
    this.statusCode = statusCode;
  }
}

import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { CoreV1Api, ListWatch, Watch } from '@kubernetes/client-node';

import type { Logger } from '../../log.ts';

export interface PodHandlers {
  upsert(pod: V1Pod): void;
  remove(pod: V1Pod): void;
}

/**
 * A pod informer over `fieldSelector`, restarted after errors (client-node's ListWatch stops on any error other
 * than 410). Resolves once the first list has been delivered.
 */
export async function watchPods(options: {
  kubeConfig: KubeConfig;
  /** Omitted: every pod. */
  fieldSelector?: string;
  handlers: PodHandlers;
  signal: AbortSignal;
  logger: Logger;
  retryMs?: number;
}): Promise<void> {
  const { kubeConfig, fieldSelector, handlers, signal, logger } = options;
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const informer = new ListWatch<V1Pod>(
    '/api/v1/pods',
    new Watch(kubeConfig),
    () => core.listPodForAllNamespaces(fieldSelector === undefined ? {} : { fieldSelector }),
    false,
    undefined,
    fieldSelector,
  );
  informer.on('add', (pod) => handlers.upsert(pod));
  informer.on('update', (pod) => handlers.upsert(pod));
  informer.on('delete', (pod) => handlers.remove(pod));
  let restart: NodeJS.Timeout | undefined;
  informer.on('error', (err: unknown) => {
    if (signal.aborted) return;
    logger.warn('pod watch failed; restarting', { fieldSelector, error: String(err) });
    restart = setTimeout(() => void informer.start().catch(() => undefined), options.retryMs ?? 1000);
  });
  signal.addEventListener(
    'abort',
    () => {
      clearTimeout(restart);
      void informer.stop();
    },
    { once: true },
  );
  for (;;) {
    try {
      await informer.start();
      return;
    } catch (err) {
      if (signal.aborted) return;
      logger.warn('pod list failed; retrying', { fieldSelector, error: String(err) });
      await new Promise((resolve) => setTimeout(resolve, options.retryMs ?? 1000));
    }
  }
}

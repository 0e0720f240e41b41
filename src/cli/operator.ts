import { Command, InvalidArgumentError, Option } from 'commander';
import { resolve } from 'node:path';
import { createLogger } from '../log.ts';
import { OperatorConfig, loadOperatorConfig } from '../operator/config.ts';
import { clusterAccess } from '../operator/kubeconfig.ts';
import { startOperator } from '../operator/index.ts';

interface Options {
  kubeconfig?: string;
  config?: string;
  resultsDir?: string;
  namespace?: string;
  leaderElect: boolean;
  workers: number;
  metricsAddr: string;
}

function workers(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('accepted: a whole number 1..64');
  return n;
}

export function command(): Command {
  return new Command('operator')
    .description(
      'Run the TraceJob controller: in a cluster with its ServiceAccount, or out of cluster with --kubeconfig.',
    )
    .option('--kubeconfig <file>', 'kubeconfig to use (default: in-cluster ServiceAccount, then $KUBECONFIG)')
    .option('--config <file>', 'operator configuration (YAML), as the Helm chart renders it')
    .option(
      '--results-dir <dir>',
      'store results on the node in this directory (a "local" storage profile, for development)',
    )
    .option(
      '--namespace <ns>',
      "namespace for tracer pods and the leader lease (default: the configuration's tracerNamespace)",
    )
    .option('--leader-elect', 'elect a leader through a Lease so only one replica acts', false)
    .addOption(new Option('--workers <n>', 'concurrent reconciles').argParser(workers).default(4))
    .option('--metrics-addr <addr>', 'listen address for /healthz, /readyz and /metrics', ':8080')
    .action(async (options: Options) => {
      const logger = createLogger();
      const raw = options.config ? await loadOperatorConfig(options.config) : undefined;
      if (!raw && !options.resultsDir) {
        throw new Error('needs --config FILE (with storage profiles) or --results-dir DIR (local results)');
      }
      const config = OperatorConfig.parse({
        ...(raw ?? {}),
        ...(options.namespace ? { tracerNamespace: options.namespace } : {}),
        ...(options.resultsDir
          ? {
              storage: {
                default: 'local',
                profiles: {
                  ...(raw?.storage.profiles ?? {}),
                  local: { type: 'local', directory: resolve(options.resultsDir) },
                },
              },
            }
          : {}),
      });
      const abort = new AbortController();
      const stop = (signal: string) => {
        logger.info('shutting down', { signal });
        abort.abort();
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
      const operator = await startOperator({
        access: await clusterAccess(options.kubeconfig),
        config,
        logger,
        workers: options.workers,
        metricsAddr: options.metricsAddr,
        leaderElect: options.leaderElect,
        signal: abort.signal,
      });
      logger.info('operator started', {
        tracerNamespace: config.tracerNamespace,
        metricsPort: operator.port,
        leaderElect: options.leaderElect,
      });
      await operator.done;
      logger.info('operator stopped');
    });
}

import { Command, InvalidArgumentError } from 'commander';
import { resolve } from 'node:path';
import { createLogger } from '../log.ts';

function nonNegativeInteger(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n))
      throw new InvalidArgumentError(`${name} must be a non-negative integer, got "${value}"`);
    return n;
  };
}

export function command(): Command {
  return new Command('devcluster')
    .description(
      'Run a development cluster in the foreground: a stand-in Kubernetes API server on 127.0.0.1 (plain HTTP, no ' +
        'authentication: for this machine only), a Node for this machine and a local kubelet running pods as real runc ' +
        'containers. Writes a kubeconfig once it serves; stops every container it started on SIGINT/SIGTERM.',
    )
    .requiredOption('--kubeconfig <file>', 'where to write the kubeconfig for kubectl, helm and the operator')
    .option('--state-dir <dir>', 'where objects persist across restarts', '.tracejob-devcluster')
    .option('--port <n>', 'port to listen on (0: any free port)', nonNegativeInteger('--port'), 0)
    .option(
      '--fake-nodes <n>',
      'add N fake nodes whose pods move through their phases without running',
      nonNegativeInteger('--fake-nodes'),
      0,
    )
    .option('--no-kubelet', 'do not run the local kubelet (API server and Node object only)')
    .option('--node-name <name>', "name of this machine's Node (default: the host name)")
    .option('--fsync', 'flush every write to disk before answering (survives power loss, slower)')
    .action(
      async (opts: {
        kubeconfig: string;
        stateDir: string;
        port: number;
        fakeNodes: number;
        kubelet: boolean;
        nodeName?: string;
        fsync?: boolean;
      }) => {
        if (opts.port > 65535) throw new InvalidArgumentError(`--port must be at most 65535, got ${opts.port}`);
        const { startDevCluster } = await import('../devcluster/index.ts');
        const logger = createLogger();
        const abort = new AbortController();
        const cluster = await startDevCluster({
          stateDir: resolve(opts.stateDir),
          kubeconfigPath: resolve(opts.kubeconfig),
          port: opts.port,
          fakeNodes: opts.fakeNodes,
          kubelet: opts.kubelet,
          nodeName: opts.nodeName,
          fsync: opts.fsync === true,
          signal: abort.signal,
          logger,
        });
        process.stdout.write(`development cluster serving at ${cluster.url}\nkubeconfig: ${cluster.kubeconfigPath}\n`);
        await new Promise<void>((done) => {
          const stop = (signal: string): void => {
            logger.info('stopping development cluster', { signal });
            void cluster.stop().then(done, (err: unknown) => {
              logger.error('development cluster did not stop cleanly', { error: String(err) });
              process.exitCode = 1;
              done();
            });
          };
          process.once('SIGINT', () => stop('SIGINT'));
          process.once('SIGTERM', () => stop('SIGTERM'));
        });
      },
    );
}

import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { silentLogger, type Logger } from '../log.ts';
import { ApiError } from './errors.ts';
import { Faults, type ExpireMode, type WatchFilter } from './faults.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { startFakeNodes, startKubelet } from './kubelet/index.ts';
import { defaultNodeName, localNode } from './node.ts';
import type { PodLogSource } from './pod-logs.ts';
import { defaultClusterRoles } from './reviews.ts';
import { ApiServer } from './server.ts';
import { Store } from './store.ts';

/** The checkout whose bin/tracejob.js tracer-image pods run. */
const checkoutDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export { Faults } from './faults.ts';
export type { RequestFault, WatchFilter, ExpireMode } from './faults.ts';
export type { PodLogSource, PodLogOptions } from './pod-logs.ts';
export { PodLogError } from './pod-logs.ts';

export interface DevClusterOptions {
  /** Where objects persist; a restart (or a new process) on the same directory sees the same objects. */
  stateDir: string;
  /** 0 or absent: any free port. */
  port?: number;
  /** Where to write the kubeconfig; default `<stateDir>/kubeconfig`. */
  kubeconfigPath?: string;
  /** Name of the Node object for this machine; default: the host name. */
  nodeName?: string;
  /** Run the local kubelet (real runc containers). Default false. */
  kubelet?: boolean;
  /** Fake nodes whose pods move through their phases without running. */
  fakeNodes?: number;
  /** Interval of watch BOOKMARK events; default 5 s. */
  bookmarkIntervalMs?: number;
  /** Fsync every write (slower, survives power loss too). */
  fsync?: boolean;
  signal?: AbortSignal;
  logger?: Logger;
}

export interface DevCluster {
  url: string;
  port: number;
  kubeconfigPath: string;
  nodeName: string;
  faults: Faults;
  /** Adds a source of `pods/log` streams (the kubelet registers its own). */
  addLogSource(source: PodLogSource): void;
  stop(): Promise<void>;
}

interface NodeAgent {
  stop(): Promise<void>;
  logSource?: PodLogSource;
}

/**
 * Starts the development cluster: the API server on 127.0.0.1, this machine's Node, the default and kube-system
 * namespaces, default ClusterRoles, and (when asked) the local kubelet and fake nodes. The kubeconfig is written once
 * it serves. It speaks plain HTTP without authentication (client-go sends no bearer token over plain HTTP); only
 * processes on this machine can reach it, and impersonation (`kubectl --as`) selects whose RBAC rules apply.
 */
export async function startDevCluster(options: DevClusterOptions): Promise<DevCluster> {
  const stateDir = resolve(options.stateDir);
  mkdirSync(stateDir, { recursive: true });
  const logger = options.logger ?? silentLogger();
  const kubeconfigPath = resolve(options.kubeconfigPath ?? join(stateDir, 'kubeconfig'));
  const nodeName = options.nodeName ?? defaultNodeName();
  const faults = new Faults();
  const logSources: PodLogSource[] = [];
  const makeServer = (): { store: Store; server: ApiServer } => {
    const store = new Store({ stateDir: join(stateDir, 'apiserver'), fsync: options.fsync });
    const server = new ApiServer({ store, faults, logger, logSources, bookmarkIntervalMs: options.bookmarkIntervalMs });
    return { store, server };
  };
  let current = makeServer();
  const port = await current.server.listen(options.port ?? 0);
  const url = `http://127.0.0.1:${port}`;
  bootstrap(current.server, nodeName);

  let restarting: Promise<void> | undefined;
  faults.attach({
    dropWatches: (filter: WatchFilter, how) => current.server.dropWatches(filter, how),
    silenceWatches: (filter: WatchFilter) => current.server.silenceWatches(filter),
    expireResourceVersions: (mode: ExpireMode) => current.server.expireResourceVersions(mode),
    restart: () => {
      restarting ??= (async () => {
        await current.server.close();
        current.store.close();
        current = makeServer();
        await current.server.listen(port);
      })().finally(() => {
        restarting = undefined;
      });
      return restarting;
    },
  });

  writeKubeconfig(kubeconfigPath, { server: url, name: 'tracejob-devcluster' });
  const agents: NodeAgent[] = [];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    for (const agent of agents.reverse())
      await agent
        .stop()
        .catch((err: unknown) => logger.warn('devcluster agent did not stop cleanly', { error: String(err) }));
    await restarting;
    await current.server.close();
    current.store.close();
  };
  try {
    if (options.kubelet || options.fakeNodes)
      agents.push(...(await startAgents({ kubeconfigPath, nodeName, stateDir, options, logger })));
    for (const a of agents) if (a.logSource) logSources.push(a.logSource);
  } catch (err) {
    await stop();
    throw err;
  }
  options.signal?.addEventListener('abort', () => void stop(), { once: true });
  logger.info('development cluster serving', { url, kubeconfig: kubeconfigPath, node: nodeName });
  return {
    url,
    port,
    kubeconfigPath,
    nodeName,
    faults,
    addLogSource: (source) => logSources.push(source),
    stop,
  };
}

function bootstrap(server: ApiServer, nodeName: string): void {
  const find = (group: string, resource: string) => {
    const t = server.registry.find(group, 'v1', resource);
    if (!t) throw new Error(`built-in resource ${resource} missing`);
    return t;
  };
  const ensure = (
    group: string,
    resource: string,
    namespace: string | undefined,
    body: Record<string, unknown>,
  ): void => {
    try {
      server.objects.create(find(group, resource), namespace, body);
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 409)) throw err;
    }
  };
  for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease'])
    ensure('', 'namespaces', undefined, { metadata: { name: ns } });
  for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease'])
    ensure('', 'serviceaccounts', ns, { metadata: { name: 'default' } });
  ensure('', 'nodes', undefined, localNode(nodeName));
  for (const role of defaultClusterRoles()) ensure('rbac.authorization.k8s.io', 'clusterroles', undefined, role);
}

/** The kubelet and fake nodes (src/devcluster/kubelet), clients of the API server over HTTP like real ones. */
async function startAgents(args: {
  kubeconfigPath: string;
  nodeName: string;
  stateDir: string;
  options: DevClusterOptions;
  logger: Logger;
}): Promise<NodeAgent[]> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(args.kubeconfigPath);
  const agents: NodeAgent[] = [];
  const signal = args.options.signal;
  if (args.options.kubelet) {
    const kubelet = await startKubelet({
      kubeConfig,
      nodeName: args.nodeName,
      stateDir: join(args.stateDir, 'kubelet'),
      checkoutDir,
      signal,
      logger: args.logger,
    });
    agents.push({ stop: () => kubelet.stop(), logSource: kubelet.logs });
  }
  if (args.options.fakeNodes) {
    const fake = await startFakeNodes({ kubeConfig, count: args.options.fakeNodes, signal, logger: args.logger });
    agents.push({ stop: () => fake.stop() });
  }
  return agents;
}

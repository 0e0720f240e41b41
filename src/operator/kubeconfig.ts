import { existsSync, readFileSync } from 'node:fs';
import type { RequestOptions as HttpsRequestOptions } from 'node:https';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { load as loadYaml } from 'js-yaml';

/**
 * Where the API server is and how to authenticate to it. The common cases (a kubeconfig with a token, a client
 * certificate or basic auth; the pod's ServiceAccount) are read here directly, because loading
 * @kubernetes/client-node's KubeConfig pulls in its whole generated API (about 90 MB resident); anything else
 * (exec plugins, auth providers) falls back to the library.
 */
export interface ClusterAccess {
  server: string;
  /** Headers and TLS options for one request; called per request, since tokens rotate. */
  authenticate(): Promise<HttpsRequestOptions>;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

interface NamedCluster {
  name: string;
  cluster: {
    server: string;
    'certificate-authority'?: string;
    'certificate-authority-data'?: string;
    'insecure-skip-tls-verify'?: boolean;
    'tls-server-name'?: string;
  };
}
interface NamedUser {
  name: string;
  user?: {
    token?: string;
    tokenFile?: string;
    'client-certificate'?: string;
    'client-certificate-data'?: string;
    'client-key'?: string;
    'client-key-data'?: string;
    username?: string;
    password?: string;
    exec?: unknown;
    'auth-provider'?: unknown;
  };
}
interface KubeconfigFile {
  'current-context'?: string;
  contexts?: { name: string; context: { cluster: string; user?: string } }[];
  clusters?: NamedCluster[];
  users?: NamedUser[];
}

/** From --kubeconfig, else $KUBECONFIG, else in-cluster, else ~/.kube/config — the order kubectl and client-go use. */
export function clusterAccess(file?: string): Promise<ClusterAccess> {
  const path = file ?? process.env.KUBECONFIG?.split(':')[0];
  if (path) return fromKubeconfig(path);
  if (process.env.KUBERNETES_SERVICE_HOST && existsSync(join(SA_DIR, 'token'))) return Promise.resolve(inCluster());
  return fromKubeconfig(join(homedir(), '.kube', 'config'));
}

function inCluster(): ClusterAccess {
  const host = process.env.KUBERNETES_SERVICE_HOST!;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
  const ca = readFileSync(join(SA_DIR, 'ca.crt'));
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    // The kubelet refreshes the projected token file; read it each time.
    authenticate: async () => ({
      ca,
      headers: { authorization: `Bearer ${readFileSync(join(SA_DIR, 'token'), 'utf8').trim()}` },
    }),
  };
}

async function fromKubeconfig(path: string): Promise<ClusterAccess> {
  const config = loadYaml(readFileSync(path, 'utf8')) as KubeconfigFile;
  const contextName = config['current-context'];
  const context = config.contexts?.find((c) => c.name === contextName)?.context;
  if (!context) throw new Error(`${path}: current-context ${JSON.stringify(contextName)} names no context`);
  const cluster = config.clusters?.find((c) => c.name === context.cluster)?.cluster;
  if (!cluster?.server) throw new Error(`${path}: context ${contextName} names no cluster with a server`);
  const user = config.users?.find((u) => u.name === context.user)?.user ?? {};
  if (user.exec || user['auth-provider']) return viaLibrary(path, cluster.server);
  const relative = (p: string) => (isAbsolute(p) ? p : join(dirname(path), p));
  const read = (data?: string, file?: string) =>
    data ? Buffer.from(data, 'base64') : file ? readFileSync(relative(file)) : undefined;
  const tls: HttpsRequestOptions = {
    ca: read(cluster['certificate-authority-data'], cluster['certificate-authority']),
    cert: read(user['client-certificate-data'], user['client-certificate']),
    key: read(user['client-key-data'], user['client-key']),
    servername: cluster['tls-server-name'],
    rejectUnauthorized: cluster['insecure-skip-tls-verify'] ? false : undefined,
  };
  return {
    server: cluster.server.replace(/\/$/, ''),
    authenticate: async () => {
      const headers: Record<string, string> = {};
      const token = user.token ?? (user.tokenFile ? readFileSync(relative(user.tokenFile), 'utf8').trim() : undefined);
      if (token) headers.authorization = `Bearer ${token}`;
      else if (user.username !== undefined) {
        headers.authorization = `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}`;
      }
      return { ...tls, headers };
    },
  };
}

/** Credential plugins are the library's business: load it only for them. */
async function viaLibrary(path: string, server: string): Promise<ClusterAccess> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return {
    server: server.replace(/\/$/, ''),
    authenticate: async () => {
      const options: HttpsRequestOptions = { headers: {} };
      await kc.applyToHTTPSOptions(options);
      return options;
    },
  };
}

import { execFile } from 'node:child_process';
import * as http from 'node:http';
import * as https from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { startDevCluster, type DevClusterOptions, type Faults } from '../../src/devcluster/index.ts';
import { kubeTools } from '../../src/devcluster/kube-tools.ts';

export interface KubectlResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON (throws when it is not). */
  json<T = Record<string, unknown>>(): T;
}

export interface TestCluster {
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  /** Runs the real kubectl 1.35 against this cluster; never throws on a non-zero exit. */
  kubectl(args: string[], options?: { input?: string; timeoutMs?: number }): Promise<KubectlResult>;
  /** Runs the real helm 4 against this cluster. */
  helm(args: string[], options?: { input?: string; timeoutMs?: number }): Promise<KubectlResult>;
  /** A raw HTTP request to the API server with the kubeconfig's credentials, for what typed clients hide. */
  request(
    method: string,
    path: string,
    options?: { headers?: Record<string, string>; body?: string | Buffer },
  ): Promise<RawResponse>;
  /** True for the development cluster, false for a real cluster named by KUBECONFIG. */
  isDevCluster: boolean;
  /** Fault injection; absent on a real cluster, so tests that need it skip there. */
  faults?: Faults;
  /** The node pods run on: the development cluster's local node, or the first Ready node of a real cluster. */
  nodeName?: string;
  stop(): Promise<void>;
}

/** True when the suite runs against the real cluster named by KUBECONFIG (TRACEJOB_E2E_KUBECONFIG=1). */
export function realClusterRequested(): boolean {
  const v = process.env.TRACEJOB_E2E_KUBECONFIG;
  return v !== undefined && v !== '' && v !== '0' && v !== 'false';
}

function runTool(
  binary: string,
  args: string[],
  kubeconfig: string,
  input: string | undefined,
  timeoutMs: number,
): Promise<KubectlResult> {
  return new Promise((resolve) => {
    const child = execFile(
      binary,
      args,
      {
        env: { ...process.env, KUBECONFIG: kubeconfig, HOME: process.env.HOME ?? tmpdir() },
        timeout: timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ stdout: String(stdout), stderr: String(stderr), code });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

async function rawRequest(
  kc: KubeConfig,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string | Buffer },
): Promise<RawResponse> {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error('the kubeconfig has no current cluster');
  const url = new URL(path, server);
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  // Node frames a DELETE body neither with Content-Length nor chunked unless told.
  if (options.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(options.body));
  const opts: https.RequestOptions = { method, headers };
  await kc.applyToHTTPSOptions(opts);
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: <T>() => JSON.parse(text) as T });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * A cluster for one test file: a fresh development cluster (own port and state directory), or — when
 * TRACEJOB_E2E_KUBECONFIG=1 — the real cluster KUBECONFIG names, so the same tests run against both.
 */
export async function useCluster(options: Partial<Omit<DevClusterOptions, 'stateDir'>> = {}): Promise<TestCluster> {
  const tools = await kubeTools();
  const make = (
    kubeconfigPath: string,
    rest: Pick<TestCluster, 'isDevCluster' | 'faults' | 'nodeName' | 'stop'>,
  ): TestCluster => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kubeconfigPath);
    return {
      kubeconfigPath,
      kubeConfig,
      kubectl: (args, o = {}) => runTool(tools.kubectl, args, kubeconfigPath, o.input, o.timeoutMs ?? 60_000),
      helm: (args, o = {}) => runTool(tools.helm, args, kubeconfigPath, o.input, o.timeoutMs ?? 120_000),
      request: (method, path, o = {}) => rawRequest(kubeConfig, method, path, o),
      ...rest,
    };
  };
  if (realClusterRequested()) {
    const kubeconfigPath = process.env.KUBECONFIG?.split(':')[0];
    if (!kubeconfigPath)
      throw new Error('TRACEJOB_E2E_KUBECONFIG is set but KUBECONFIG does not name a kubeconfig file');
    const probe = new KubeConfig();
    probe.loadFromFile(kubeconfigPath);
    const nodes = await probe.makeApiClient(CoreV1Api).listNode();
    const ready = nodes.items.find((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    return make(kubeconfigPath, { isDevCluster: false, nodeName: ready?.metadata?.name, stop: async () => {} });
  }
  const stateDir = await mkdtemp(join(tmpdir(), 'tracejob-devcluster-'));
  const cluster = await startDevCluster({ ...options, stateDir });
  return make(cluster.kubeconfigPath, {
    isDevCluster: true,
    faults: cluster.faults,
    nodeName: cluster.nodeName,
    stop: async () => {
      await cluster.stop();
      await rm(stateDir, { recursive: true, force: true });
    },
  });
}

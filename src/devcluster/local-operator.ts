/**
 * The chart installed into a cluster with the operator itself running out of cluster, as every operator's `make run`
 * does: `helm install` with replicaCount 0 and an S3-compatible storage profile, then `tracejob operator` as a child
 * process with the configuration the chart rendered into its ConfigMap, so a local run uses exactly the settings an
 * in-cluster install gets. The demo and the end-to-end tests both stand on this.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { kubeTools } from './kube-tools.ts';

const run = promisify(execFile);
const checkout = resolve(new URL('../..', import.meta.url).pathname);

export interface S3Store {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface LocalOperatorOptions {
  kubeconfig: string;
  /** Where the values, the rendered configuration and the operator's log go. */
  workDir: string;
  store: S3Store;
  tracerNamespace: string;
  operatorNamespace: string;
  release?: string;
}

export interface LocalOperator {
  logPath: string;
  /** SIGKILL and start again: an operator that crashed mid-trace. */
  restart(): Promise<void>;
  log(): Promise<string>;
  stop(): Promise<void>;
}

const CREDENTIALS_SECRET = 's3-credentials';

async function tool(binary: string, kubeconfig: string, args: string[], input?: string): Promise<string> {
  const child = run(binary, ['--kubeconfig', kubeconfig, ...args], { maxBuffer: 64 * 1024 * 1024 });
  if (input !== undefined) child.child.stdin?.end(input);
  try {
    return (await child).stdout;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`${binary.split('/').pop()} ${args.slice(0, 2).join(' ')} failed: ${stderr.trim()}`, {
      cause: err,
    });
  }
}

/** Installs the chart (no operator pods) and returns the path of the operator configuration it rendered. */
async function installChart(options: LocalOperatorOptions): Promise<string> {
  const { kubeconfig, workDir, store, tracerNamespace, operatorNamespace } = options;
  const release = options.release ?? 'tracejob';
  const { helm, kubectl } = await kubeTools();
  const values = {
    replicaCount: 0,
    tracer: { namespace: { name: tracerNamespace, create: true } },
    storage: {
      default: 's3',
      profiles: {
        s3: {
          type: 's3',
          endpoint: store.endpoint,
          region: 'us-east-1',
          bucket: store.bucket,
          prefix: 'traces',
          forcePathStyle: true,
          credentialsSecret: CREDENTIALS_SECRET,
          presignExpirySeconds: 3600,
        },
      },
    },
  };
  const valuesPath = join(workDir, 'values.json');
  await writeFile(valuesPath, JSON.stringify(values));
  await tool(helm, kubeconfig, [
    'install',
    release,
    join(checkout, 'charts', 'tracejob-operator'),
    '--namespace',
    operatorNamespace,
    '--create-namespace',
    '--values',
    valuesPath,
    '--wait',
    '--timeout',
    '60s',
  ]);
  await tool(
    kubectl,
    kubeconfig,
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: CREDENTIALS_SECRET, namespace: tracerNamespace },
      stringData: { accessKeyId: store.accessKeyId, secretAccessKey: store.secretAccessKey },
    }),
  );
  const configPath = join(workDir, 'operator.yaml');
  await writeFile(
    configPath,
    await tool(kubectl, kubeconfig, [
      'get',
      'configmap',
      `${release}-tracejob-operator`,
      '-n',
      operatorNamespace,
      '-o',
      'jsonpath={.data.config\\.yaml}',
    ]),
  );
  return configPath;
}

/** `installChart`, then `tracejob operator --kubeconfig ... --config ...` as a child process logging to a file. */
export async function startLocalOperator(options: LocalOperatorOptions): Promise<LocalOperator> {
  const configPath = await installChart(options);
  const logPath = join(options.workDir, 'operator.log');
  let child: ChildProcess | undefined;
  const start = () => {
    child = spawn(
      process.execPath,
      [
        join(checkout, 'bin', 'tracejob.js'),
        'operator',
        '--kubeconfig',
        options.kubeconfig,
        '--config',
        configPath,
        '--metrics-addr',
        '127.0.0.1:0',
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        // The operator itself signs links and deletes objects with the same credentials the tracer pods get.
        env: {
          ...process.env,
          AWS_ACCESS_KEY_ID: options.store.accessKeyId,
          AWS_SECRET_ACCESS_KEY: options.store.secretAccessKey,
        },
      },
    );
    child.stderr?.pipe(createWriteStream(logPath, { flags: 'a' }));
  };
  const kill = async (signal: NodeJS.Signals) => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((r) => running.once('exit', r));
    running.kill(signal);
    await exited;
  };
  start();
  return {
    logPath,
    async restart() {
      await kill('SIGKILL');
      start();
    },
    log: () => readFile(logPath, 'utf8').catch(() => ''),
    stop: () => kill('SIGTERM'),
  };
}

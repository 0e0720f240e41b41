import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const cli = new URL('../bin/tracejob.js', import.meta.url).pathname;

test('tracejob --help lists every subcommand', async () => {
  const { stdout } = await run(process.execPath, [cli, '--help']);
  for (const name of ['operator', 'trace', 'resolve', 'collapse', 'flamegraph', 'diff', 'devcluster']) {
    assert.match(stdout, new RegExp(`^\\s+${name}\\b`, 'm'), `missing ${name} in:\n${stdout}`);
  }
});

test('an unknown subcommand exits 2 and names the known ones', async () => {
  await assert.rejects(run(process.execPath, [cli, 'nonsense']), (err: { code: number; stderr: string }) => {
    assert.equal(err.code, 2);
    assert.match(err.stderr, /unknown command 'nonsense'.*collapse/);
    return true;
  });
});

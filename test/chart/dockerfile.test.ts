import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../api/examples.ts';
import { needs } from '../support/requirements.ts';

const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
const tracerPackages = readFileSync(join(repoRoot, 'packages', 'tracer-image.txt'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

/** Instructions with continuation lines joined and comments dropped. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'))
  .map((l) => {
    const [keyword, ...rest] = l.split(/\s+/);
    return { keyword: keyword!.toUpperCase(), args: rest.join(' ') };
  });

const stages = instructions.reduce<{ from: string; body: typeof instructions }[]>((acc, i) => {
  if (i.keyword === 'FROM') acc.push({ from: i.args, body: [] });
  else acc.at(-1)?.body.push(i);
  return acc;
}, []);

test('multi-stage, Debian 12 based', () => {
  assert.ok(stages.length >= 2);
  for (const { from } of stages) assert.match(from, /bookworm|debian:12/);
  assert.match(stages.at(-1)!.from, /^debian:12-slim$/);
});

test('the image installs exactly the packages of packages/tracer-image.txt', () => {
  const runtime = stages.at(-1)!.body;
  const copy = runtime.find((i) => i.keyword === 'COPY' && i.args.startsWith('packages/tracer-image.txt '));
  assert.ok(copy, 'packages/tracer-image.txt is copied into the runtime stage');
  const listPath = copy.args.split(/\s+/)[1]!;
  const installs = instructions.filter((i) => i.keyword === 'RUN' && /apt-get install/.test(i.args));
  assert.equal(installs.length, 1, 'one apt-get install in the whole file');
  const install = installs[0]!.args;
  assert.ok(runtime.includes(installs[0]!), 'in the runtime stage');
  assert.match(install, new RegExp(`xargs --arg-file=${listPath}\\s+apt-get install`));
  // Nothing but flags after "install": the list is the only source of package names.
  const afterInstall = install.split('apt-get install')[1]!.split('&&')[0]!.trim().split(/\s+/);
  for (const word of afterInstall) assert.match(word, /^-/, `apt-get install names ${word} outside the list`);
  for (const pkg of tracerPackages) assert.ok(!dockerfile.includes(` ${pkg} `), `${pkg} is hard-coded`);
  assert.deepEqual(
    [...tracerPackages].sort(),
    ['bpftrace', 'gdb', 'libbpf-tools', 'linux-perf', 'strace', 'trace-cmd'],
    'the tracer image carries the tracers the issue lists',
  );
});

test('every COPY source exists and passes .dockerignore', () => {
  const ignore = readFileSync(join(repoRoot, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  assert.equal(ignore[0], '*', '.dockerignore is an allow-list');
  const allowed = ignore.slice(1).map((l) => {
    assert.match(l, /^!/);
    return l.slice(1).replace(/\/$/, '');
  });
  const copies = instructions.filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'));
  assert.ok(copies.length >= 4);
  for (const { args } of copies) {
    const sources = args.split(/\s+/).slice(0, -1);
    for (const source of sources) {
      assert.ok(existsSync(join(repoRoot, source)), `${source} does not exist`);
      assert.ok(
        allowed.some((a) => source === a || source.startsWith(`${a}/`)),
        `${source} is excluded by .dockerignore`,
      );
    }
  }
});

test('runs tracejob from the checkout on the pinned Node runtime', () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    bin: Record<string, string>;
  };
  assert.ok(pkg.dependencies.node, 'the node package is a production dependency');
  assert.match(dockerfile, /npm ci --omit=dev/);
  assert.match(dockerfile, /ENV PATH=\/opt\/tracejob\/node_modules\/\.bin:\$PATH/);
  assert.match(
    dockerfile,
    new RegExp(`ln -s /opt/tracejob/${pkg.bin.tracejob!.replace('.', '\\.')} /usr/local/bin/tracejob`),
  );
  assert.equal(instructions.filter((i) => i.keyword === 'ENTRYPOINT').at(-1)?.args, '["tracejob"]');
});

test(
  'every package of the tracer image is a real Debian package (CI installs the list)',
  needs('perf', 'bpftrace', 'libbpf-tools', 'strace', 'trace-cmd', 'gdb'),
  () => {
    for (const pkg of tracerPackages) {
      const status = execFileSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
      assert.match(status, /install ok installed/, pkg);
    }
  },
);

// The CRDs in a cluster, driven by the real kubectl: valid TraceJobs are admitted, invalid ones refused with the field
// named, the spec cannot change, and kubectl's printer columns and explain work. Runs on the development cluster, or
// on a real one with TRACEJOB_E2E_KUBECONFIG=1.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dump } from 'js-yaml';
import { useCluster, type TestCluster } from '../support/cluster.ts';
import { exampleObjects, repoRoot, traceJob } from './examples.ts';
import { invalid } from './invalid-tracejobs.ts';

let cluster: TestCluster;
const namespace = `tj-admission-${randomBytes(3).toString('hex')}`;

const yamlIn = (obj: unknown) =>
  dump({ ...(obj as object), metadata: { ...(obj as { metadata: object }).metadata, namespace } });

async function kubectl(args: string[], input?: string) {
  return cluster.kubectl(args, { input });
}

before(async () => {
  cluster = await useCluster();
  const crds = await kubectl(['apply', '-f', join(repoRoot, 'crds')]);
  assert.equal(crds.code, 0, crds.stderr);
  const established = await kubectl([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/tracejobs.tracejob.dev',
    'crd/tracepolicies.tracejob.dev',
  ]);
  assert.equal(established.code, 0, established.stderr);
  const ns = await kubectl(
    ['apply', '-f', '-'],
    dump({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }),
  );
  assert.equal(ns.code, 0, ns.stderr);
});

after(async () => {
  if (!cluster) return;
  await kubectl(['delete', 'namespace', namespace, '--wait=false']);
  await cluster.stop();
});

describe('kubectl apply', () => {
  test('admits every example', async () => {
    for (const { file, obj } of exampleObjects()) {
      if (obj.kind === 'TracePolicy') continue;
      const result = await kubectl(['apply', '-f', '-'], yamlIn(obj));
      assert.equal(result.code, 0, `${file}: ${result.stderr}`);
    }
  });

  test('refuses every invalid TraceJob the CRD can judge, naming the field', async () => {
    let refused = 0;
    for (const [i, { name, obj, field, crd, strictFieldValidation }] of invalid.entries()) {
      if (!crd && !strictFieldValidation) continue;
      const o = obj as { metadata: { name: string } };
      // Distinct names so that an admitted mistake cannot hide behind an earlier object's immutability.
      const named = {
        ...o,
        metadata: { ...o.metadata, name: o.metadata.name.length > 63 ? o.metadata.name : `bad-${i}` },
      };
      const result = await kubectl(['create', '-f', '-'], yamlIn(named));
      assert.notEqual(result.code, 0, `${name}: admitted`);
      assert.ok(result.stderr.includes(field.split('[')[0]!), `${name}: ${result.stderr}`);
      refused++;
    }
    assert.ok(refused >= 29, `${refused} refused`);
  });

  test('refuses a change to the spec of an existing TraceJob', async () => {
    const original = traceJob({}, 'immutable');
    assert.equal((await kubectl(['apply', '-f', '-'], yamlIn(original))).code, 0);
    const changed = await kubectl(['apply', '-f', '-'], yamlIn(traceJob({ duration: '1m' }, 'immutable')));
    assert.notEqual(changed.code, 0);
    assert.match(changed.stderr, /spec is immutable/);
  });

  test('applies defaults from the schema', async () => {
    const result = await kubectl([
      'get',
      'tj',
      'immutable',
      '-n',
      namespace,
      '-o',
      'jsonpath={.spec.target.maxTargets} {.spec.duration}',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '10 30s');
  });

  test('admits the example TracePolicy and refuses a bad one', async () => {
    const example = exampleObjects().find(({ obj }) => obj.kind === 'TracePolicy')!.obj as unknown as {
      metadata: { name: string };
    };
    const policy = { ...example, metadata: { name: `${namespace}-policy` } };
    const ok = await kubectl(['apply', '-f', '-'], dump(policy));
    assert.equal(ok.code, 0, ok.stderr);
    const bad = await kubectl(
      ['create', '-f', '-'],
      dump({ ...policy, metadata: { name: `${namespace}-bad` }, spec: { namespaceSelector: {}, maxDuration: '3h' } }),
    );
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /spec\.maxDuration/);
    await kubectl(['delete', 'tracepolicy', policy.metadata.name]);
  });
});

test('kubectl get tj shows the printer columns', async () => {
  const result = await kubectl(['get', 'tj', '-n', namespace]);
  assert.equal(result.code, 0, result.stderr);
  const header = result.stdout.split('\n')[0]!.split(/\s+/);
  assert.deepEqual(header, ['NAME', 'POD', 'SELECTOR', 'TRACER', 'DURATION', 'PHASE', 'AGE']);
  assert.match(result.stdout, /^web-cpu\s+web-0\s+profile\s+30s\s/m);
  assert.match(result.stdout, /^checkout-fleet\s+\{"app":"checkout"\}\s+profile\s+2m\s/m);
});

test('kubectl explain describes the fields', async () => {
  const result = await kubectl(['explain', 'tracejob.spec.tracer']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /Which tracer runs, and its options/);
  for (const field of ['bpftrace', 'ftrace', 'gdb', 'perf', 'profile', 'strace', 'tool', 'type']) {
    assert.match(result.stdout, new RegExp(`^\\s+${field}\\s+<`, 'm'), field);
  }
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { load } from 'js-yaml';
import { generatedCrdFiles, toStructural, traceJobCrd, tracePolicyCrd } from '../../src/api/crd.ts';
import { updateReference } from '../../src/api/reference.ts';
import { repoRoot } from './examples.ts';

type Schema = Record<string, unknown> & {
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema;
};

test('the committed CRDs are what the zod schemas generate (run: node scripts/generate-crds.ts)', () => {
  const files = generatedCrdFiles();
  assert.deepEqual(files.map((f) => f.path).sort(), [
    'charts/tracejob-operator/crds/tracejob.dev_tracejobs.yaml',
    'charts/tracejob-operator/crds/tracejob.dev_tracepolicies.yaml',
    'crds/tracejob.dev_tracejobs.yaml',
    'crds/tracejob.dev_tracepolicies.yaml',
  ]);
  for (const { path, content } of files) {
    assert.equal(readFileSync(join(repoRoot, path), 'utf8'), content, `${path} is stale`);
  }
});

/** Every schema node, with its path. */
function* nodes(schema: Schema, path: string): Generator<[string, Schema]> {
  yield [path, schema];
  for (const [name, sub] of Object.entries(schema.properties ?? {})) yield* nodes(sub, `${path}.${name}`);
  if (schema.items) yield* nodes(schema.items, `${path}[]`);
  if (schema.additionalProperties) yield* nodes(schema.additionalProperties, `${path}.*`);
}

for (const crd of [traceJobCrd(), tracePolicyCrd()]) {
  const name = (crd.metadata as { name: string }).name;
  const version = (crd.spec as { versions: { schema: { openAPIV3Schema: Schema } }[] }).versions[0]!;
  const root = version.schema.openAPIV3Schema;

  test(`${name}: structural, and bounded so CEL cost estimation passes`, () => {
    for (const [path, node] of nodes(root, '')) {
      assert.ok(typeof node.type === 'string', `${path} has no type`);
      for (const keyword of ['$ref', 'anyOf', 'oneOf', 'allOf', 'not', 'const', 'propertyNames', '$schema']) {
        assert.ok(!(keyword in node), `${path} uses ${keyword}`);
      }
      assert.ok(node.additionalProperties !== (false as unknown), `${path} sets additionalProperties: false`);
      if (path.startsWith('.metadata') || path === '.apiVersion' || path === '.kind') continue;
      if (node.type === 'string' && node.format !== 'date-time' && !node.enum) {
        assert.ok(typeof node.maxLength === 'number', `${path} is an unbounded string`);
      }
      if (node.type === 'array') assert.ok(typeof node.maxItems === 'number', `${path} is an unbounded list`);
    }
  });

  test(`${name}: every field has a description for kubectl explain`, () => {
    for (const [path, node] of nodes(root, '')) {
      if (path.startsWith('.metadata') || path.endsWith('[]') || path.endsWith('.*')) continue;
      assert.ok(typeof node.description === 'string' && node.description.length > 5, `${path} has no description`);
    }
  });

  test(`${name}: the file on disk parses back to the same object`, () => {
    const [plural, ...group] = name.split('.');
    const onDisk = load(readFileSync(join(repoRoot, 'crds', `${group.join('.')}_${plural}.yaml`), 'utf8'));
    assert.deepEqual(onDisk, crd);
  });
}

test('TraceJob CRD: names, status subresource, printer columns', () => {
  const spec = traceJobCrd().spec as Record<string, never>;
  assert.equal(spec.scope, 'Namespaced');
  assert.deepEqual((spec.names as { shortNames: string[] }).shortNames, ['tj']);
  const version = (spec.versions as Record<string, unknown>[])[0]!;
  assert.deepEqual(version.subresources, { status: {} });
  const columns = (version.additionalPrinterColumns as { name: string }[]).map((c) => c.name);
  for (const column of ['Pod', 'Selector', 'Tracer', 'Phase', 'Age']) assert.ok(columns.includes(column), column);
  assert.equal((tracePolicyCrd().spec as { scope: string }).scope, 'Cluster');
});

test('toStructural refuses what a structural schema cannot hold', () => {
  assert.throws(() => toStructural({ anyOf: [{ type: 'string' }, { type: 'integer' }] }), /anyOf/);
  assert.throws(() => toStructural({ type: 'object', properties: { a: { $ref: '#/x' } } }), /\.a: \$ref/);
  assert.throws(() => toStructural({ type: 'object', properties: { a: { description: 'x' } } }), /needs a type/);
  assert.deepEqual(toStructural({ type: 'object', additionalProperties: false, properties: {} }), {
    type: 'object',
    properties: {},
  });
});

test('the field tables of docs/reference.md are what the schemas generate (run: node scripts/generate-crds.ts)', () => {
  const reference = readFileSync(join(repoRoot, 'docs', 'reference.md'), 'utf8');
  assert.equal(updateReference(reference), reference);
  for (const field of ['spec.target.process.cmdline', 'spec.tracer.gdb.interval', 'status.artifacts[].sha256']) {
    assert.ok(reference.includes(`\`${field}\``), field);
  }
});

import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ApiError } from '../../src/devcluster/errors.ts';
import { jsonPatch, mergePatch, strategicMergePatch, type Json } from '../../src/devcluster/patch.ts';
import { applyDefaults, prune, validate, type Schema } from '../../src/devcluster/schema.ts';
import { fieldsAt, parseFieldSelector, parseLabelSelector } from '../../src/devcluster/selectors.ts';
import { Store, type KubeObject } from '../../src/devcluster/store.ts';
import { humanDuration, jsonPath } from '../../src/devcluster/table.ts';
import { validateLabels, validateName } from '../../src/devcluster/validation.ts';
import { decodeProtobufBody } from '../../src/devcluster/protobuf.ts';

describe('label selectors', () => {
  const cases: [string, Record<string, string>, boolean][] = [
    ['a=1', { a: '1' }, true],
    ['a==1', { a: '2' }, false],
    ['a!=1', {}, true],
    ['a in (1, 2)', { a: '2' }, true],
    ['a notin (1,2)', { a: '2' }, false],
    ['a notin (1,2)', {}, true],
    ['a', { a: '' }, true],
    ['!a', { a: '' }, false],
    ['a=1,b in (x),!c', { a: '1', b: 'x' }, true],
    ['example.com/tier=web', { 'example.com/tier': 'web' }, true],
    ['', { anything: 'x' }, true],
  ];
  for (const [selector, labels, expected] of cases)
    test(`${JSON.stringify(selector)} on ${JSON.stringify(labels)} is ${expected}`, () =>
      assert.equal(parseLabelSelector(selector)(labels), expected));

  test('malformed selectors are 400s', () => {
    for (const bad of ['a=(', 'a in 1', '-a=1', 'a=b c'])
      assert.throws(
        () => parseLabelSelector(bad),
        (e: unknown) => e instanceof ApiError && e.code === 400,
        bad,
      );
  });
});

describe('field selectors', () => {
  const fields = fieldsAt({ 'spec.nodeName': ['spec', 'nodeName'] });
  test('supported fields match, = and != both work', () => {
    const pod = { metadata: { name: 'p', namespace: 'n' }, spec: { nodeName: 'a' } };
    assert.equal(parseFieldSelector('spec.nodeName=a,metadata.name=p', fields, 'pods')(pod), true);
    assert.equal(parseFieldSelector('spec.nodeName!=a', fields, 'pods')(pod), false);
    assert.equal(parseFieldSelector('spec.nodeName=', fields, 'pods')({ metadata: { name: 'q' }, spec: {} }), true);
  });
  test('unsupported fields are refused', () => {
    assert.throws(
      () => parseFieldSelector('status.podIP=1', fields, 'pods'),
      (e: unknown) => e instanceof ApiError && e.code === 400 && /field label not supported/.test(e.message),
    );
  });
});

describe('patches', () => {
  test('JSON merge patch (RFC 7386): null deletes, objects merge, arrays replace', () => {
    assert.deepEqual(mergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { b: null, d: 3 }, l: [3] }), {
      a: { c: 2, d: 3 },
      l: [3],
    });
  });
  test('JSON patch (RFC 6902) operations and failures', () => {
    const doc: Json = { a: [1, 2], b: { c: 'x' } };
    assert.deepEqual(
      jsonPatch(doc, [
        { op: 'add', path: '/a/-', value: 3 },
        { op: 'replace', path: '/b/c', value: 'y' },
        { op: 'copy', from: '/b/c', path: '/d' },
        { op: 'move', from: '/d', path: '/e' },
        { op: 'remove', path: '/a/0' },
        { op: 'test', path: '/e', value: 'y' },
      ]),
      { a: [2, 3], b: { c: 'y' }, e: 'y' },
    );
    assert.deepEqual(doc, { a: [1, 2], b: { c: 'x' } }, 'the input is not modified');
    assert.throws(
      () => jsonPatch(doc, [{ op: 'test', path: '/b/c', value: 'z' }]),
      (e: unknown) => e instanceof ApiError && e.code === 422,
    );
    assert.throws(
      () => jsonPatch(doc, [{ op: 'remove', path: '/nope' }]),
      (e: unknown) => e instanceof ApiError && e.code === 422,
    );
    assert.throws(
      () => jsonPatch(doc, { op: 'add' }),
      (e: unknown) => e instanceof ApiError && e.code === 400,
    );
  });
  test('strategic merge patch merges containers/env by name, deletes with $patch, keeps order directives out', () => {
    const pod: Json = {
      spec: {
        containers: [
          { name: 'a', image: 'a:1', env: [{ name: 'X', value: '1' }] },
          { name: 'b', image: 'b:1' },
        ],
        tolerations: [{ key: 't' }],
      },
      metadata: { finalizers: ['f1'] },
    };
    const out = strategicMergePatch(pod, {
      spec: {
        '$setElementOrder/containers': [{ name: 'b' }, { name: 'a' }],
        containers: [
          { name: 'a', env: [{ name: 'Y', value: '2' }] },
          { name: 'b', $patch: 'delete' },
        ],
        tolerations: [{ key: 'u' }],
      },
      metadata: { finalizers: ['f2'] },
    } as Json);
    assert.deepEqual(out, {
      spec: {
        containers: [
          {
            name: 'a',
            image: 'a:1',
            env: [
              { name: 'X', value: '1' },
              { name: 'Y', value: '2' },
            ],
          },
        ],
        tolerations: [{ key: 'u' }],
      },
      metadata: { finalizers: ['f1', 'f2'] },
    });
  });
});

describe('structural schemas', () => {
  const schema: Schema = {
    type: 'object',
    properties: {
      spec: {
        type: 'object',
        required: ['n'],
        properties: {
          n: { type: 'integer', minimum: 1 },
          mode: { type: 'string', enum: ['a', 'b'], default: 'a' },
          items: {
            type: 'array',
            'x-kubernetes-list-type': 'map',
            'x-kubernetes-list-map-keys': ['name'],
            items: { type: 'object', properties: { name: { type: 'string' } } },
          },
          free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
          port: { 'x-kubernetes-int-or-string': true },
        },
        'x-kubernetes-validations': [{ rule: 'self.n < 10 || self.mode == "b"', message: 'large n needs mode b' }],
      },
    },
  };
  test('prune drops undeclared fields (and reports them), keeps preserved subtrees and metadata', () => {
    const obj = {
      apiVersion: 'x/v1',
      kind: 'X',
      metadata: { name: 'n', bogus: 1 },
      spec: { n: 1, junk: true, free: { any: { thing: 1 } } },
      extra: 1,
    } as Json;
    const dropped = prune(obj, schema);
    assert.deepEqual(dropped.sort(), ['extra', 'metadata.bogus', 'spec.junk']);
    assert.deepEqual(obj, {
      apiVersion: 'x/v1',
      kind: 'X',
      metadata: { name: 'n' },
      spec: { n: 1, free: { any: { thing: 1 } } },
    });
  });
  test('defaults fill absent fields only', () => {
    const obj = { spec: { n: 1 } } as Json;
    applyDefaults(obj, schema);
    assert.deepEqual(obj, { spec: { n: 1, mode: 'a' } });
    const explicit = { spec: { n: 1, mode: 'b' } } as Json;
    applyDefaults(explicit, schema);
    assert.deepEqual(explicit, { spec: { n: 1, mode: 'b' } });
  });
  test('validation names each failing field', () => {
    const errors = validate(
      { spec: { n: 0, mode: 'c', items: [{ name: 'x' }, { name: 'x' }], port: 1.5 } },
      schema,
      '',
    );
    assert.deepEqual(errors.map((e) => `${e.field} ${e.type}`).sort(), [
      'spec.items[1] FieldValueDuplicate',
      'spec.mode FieldValueNotSupported',
      'spec.n FieldValueInvalid',
      'spec.port FieldValueTypeInvalid',
    ]);
    assert.deepEqual(
      validate({ spec: {} }, schema, '').map((e) => `${e.field} ${e.type}`),
      ['spec.n FieldValueRequired'],
    );
  });
  test('CEL rules run once the structure is valid', () => {
    const errors = validate({ spec: { n: 20, mode: 'a' } }, schema, '');
    assert.deepEqual(
      errors.map((e) => [e.field, e.detail]),
      [['spec', 'large n needs mode b']],
    );
    assert.deepEqual(validate({ spec: { n: 20, mode: 'b' } }, schema, ''), []);
  });
  test('transition rules (oldSelf) only run on update', () => {
    const immutable: Schema = {
      type: 'string',
      'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'is immutable' }],
    };
    assert.deepEqual(validate('a', immutable, 'spec.x'), []);
    assert.deepEqual(validate('a', immutable, 'spec.x', 'a'), []);
    assert.equal(validate('b', immutable, 'spec.x', 'a')[0]?.detail, 'is immutable');
  });
});

describe('names and labels', () => {
  test('DNS-1123 subdomain and label rules', () => {
    assert.deepEqual(validateName('a.b-c', 'subdomain'), []);
    assert.equal(validateName('a.b', 'label').length, 1);
    assert.equal(validateName('A', 'subdomain').length, 1);
    assert.equal(validateName('x'.repeat(64), 'label').length, 1);
    assert.deepEqual(validateName('Any:Thing', 'path-segment'), []);
    assert.equal(validateName('a/b', 'path-segment').length, 1);
  });
  test('label keys and values', () => {
    assert.deepEqual(validateLabels({ 'example.com/a': 'b', c: '' }), []);
    assert.equal(validateLabels({ '/a': 'b' }).length, 1);
    assert.equal(validateLabels({ a: 'b c' }).length, 1);
    assert.equal(validateLabels({ a: 'x'.repeat(64) }).length, 1);
  });
});

describe('printing', () => {
  test('jsonPath handles fields, indexes, wildcards and filters', () => {
    const o = {
      status: {
        conditions: [
          { type: 'A', status: 'False' },
          { type: 'Ready', status: 'True' },
        ],
      },
      spec: { list: [{ n: 1 }, { n: 2 }], 'dotted.key': 'v' },
    } as Json;
    assert.deepEqual(jsonPath(o, '.status.conditions[?(@.type=="Ready")].status'), ['True']);
    assert.deepEqual(jsonPath(o, '.spec.list[*].n'), [1, 2]);
    assert.deepEqual(jsonPath(o, '.spec.list[1].n'), [2]);
    assert.deepEqual(jsonPath(o, ".spec['dotted.key']"), ['v']);
    assert.deepEqual(jsonPath(o, '.missing.field'), []);
  });
  test('humanDuration matches kubectl AGE wording', () => {
    const s = 1000;
    assert.equal(humanDuration(5 * s), '5s');
    assert.equal(humanDuration(119 * s), '119s');
    assert.equal(humanDuration(150 * s), '2m30s');
    assert.equal(humanDuration(3 * 60 * s), '3m');
    assert.equal(humanDuration(90 * 60 * s), '90m');
    assert.equal(humanDuration(5 * 3600 * s + 60 * s), '5h1m');
    assert.equal(humanDuration(30 * 3600 * s), '30h');
    assert.equal(humanDuration(3 * 86400 * s), '3d');
    assert.equal(humanDuration(400 * 86400 * s), '400d');
  });
});

describe('store', () => {
  function obj(name: string, data = '1'): KubeObject {
    return {
      metadata: { name, namespace: 'n', uid: name, resourceVersion: '', creationTimestamp: '2026-01-01T00:00:00Z' },
      data: { v: data },
    } as KubeObject;
  }
  test('every write is on disk before it returns; a reopened store has the same objects and counter', () => {
    const dir = mkdtempSync(join(tmpdir(), 'store-'));
    try {
      const a = new Store({ stateDir: dir });
      a.put('configmaps', obj('x'));
      const y = a.put('configmaps', obj('y'));
      a.put('configmaps', obj('x', '2'));
      a.remove('configmaps', y);
      const rv = a.resourceVersion;
      // No close(): a crash right after the last acknowledged write.
      const b = new Store({ stateDir: dir });
      assert.deepEqual(
        b.list('configmaps').map((o) => `${o.metadata.name}=${String((o.data as { v: string }).v)}`),
        ['x=2'],
      );
      assert.equal(b.resourceVersion, rv);
      assert.notEqual(b.put('configmaps', obj('z')).metadata.resourceVersion, rv);
      a.close();
      b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test('a torn last line (crash mid-append) is ignored, everything before it kept', () => {
    const dir = mkdtempSync(join(tmpdir(), 'store-'));
    try {
      const a = new Store({ stateDir: dir });
      a.put('configmaps', obj('kept'));
      a.close();
      appendFileSync(join(dir, 'objects.log'), '{"t":"put","s":"configmaps","o":{"metad');
      const b = new Store({ stateDir: dir });
      assert.deepEqual(
        b.list('configmaps').map((o) => o.metadata.name),
        ['kept'],
      );
      b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test('watch history: events since a resourceVersion, undefined once expired', () => {
    const dir = mkdtempSync(join(tmpdir(), 'store-'));
    try {
      const s = new Store({ stateDir: dir, historyLimit: 3 });
      const first = s.put('configmaps', obj('a'));
      s.put('configmaps', obj('b'));
      assert.deepEqual(
        s.eventsSince(Number(first.metadata.resourceVersion))?.map((e) => e.object.metadata.name),
        ['b'],
      );
      s.put('configmaps', obj('c'));
      s.put('configmaps', obj('d'));
      s.put('configmaps', obj('e'));
      assert.equal(s.eventsSince(Number(first.metadata.resourceVersion)), undefined);
      s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('protobuf bodies', () => {
  function field(n: number, wire: number, payload: Buffer): Buffer {
    const tag = Buffer.from([(n << 3) | wire]);
    return wire === 2 ? Buffer.concat([tag, Buffer.from([payload.length]), payload]) : Buffer.concat([tag, payload]);
  }
  const str = (n: number, s: string) => field(n, 2, Buffer.from(s));
  test('a Secret in the k8s protobuf envelope decodes to its JSON form', () => {
    const entry = Buffer.concat([str(1, 'k'), field(2, 2, Buffer.from('v'))]);
    const labels = Buffer.concat([str(1, 'app'), str(2, 'x')]);
    const meta = Buffer.concat([str(1, 'token'), str(2, ''), field(11, 2, labels)]);
    const secret = Buffer.concat([
      field(1, 2, meta),
      field(2, 2, entry),
      str(3, 'Opaque'),
      field(5, 0, Buffer.from([0])),
    ]);
    const unknown = Buffer.concat([field(1, 2, Buffer.concat([str(1, 'v1'), str(2, 'Secret')])), field(2, 2, secret)]);
    const body = Buffer.concat([Buffer.from('k8s\0', 'latin1'), unknown]);
    assert.deepEqual(decodeProtobufBody(body), {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'token', labels: { app: 'x' } },
      data: { k: 'dg==' },
      type: 'Opaque',
      immutable: false,
    });
  });
  test('a field the decoder does not know inside a pod spec is refused (415), not dropped', () => {
    const containerWithProbe = Buffer.concat([str(1, 'main'), str(2, 'img:1'), field(10, 2, str(1, 'probe'))]);
    const spec = field(2, 2, containerWithProbe);
    const pod = Buffer.concat([field(1, 2, str(1, 'p')), field(2, 2, spec)]);
    const unknown = Buffer.concat([field(1, 2, Buffer.concat([str(1, 'v1'), str(2, 'Pod')])), field(2, 2, pod)]);
    assert.throws(
      () => decodeProtobufBody(Buffer.concat([Buffer.from('k8s\0', 'latin1'), unknown])),
      (e: unknown) => e instanceof ApiError && e.code === 415 && /field 10 of Container/.test(e.message),
    );
    const plain = Buffer.concat([
      field(1, 2, str(1, 'p')),
      // Go writes zero values of every plain field; unknown ones that are empty are fine.
      field(
        2,
        2,
        field(
          2,
          2,
          Buffer.concat([
            str(1, 'main'),
            str(2, 'img:1'),
            field(10, 2, Buffer.alloc(0)),
            field(11, 2, Buffer.alloc(0)),
          ]),
        ),
      ),
    ]);
    const ok = Buffer.concat([field(1, 2, Buffer.concat([str(1, 'v1'), str(2, 'Pod')])), field(2, 2, plain)]);
    assert.deepEqual(decodeProtobufBody(Buffer.concat([Buffer.from('k8s\0', 'latin1'), ok])), {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      spec: { containers: [{ name: 'main', image: 'img:1' }] },
    });
  });

  test('kinds without a known schema are refused with 415, garbage with 400', () => {
    const unknown = Buffer.concat([field(1, 2, Buffer.concat([str(1, 'v1'), str(2, 'Service')]))]);
    assert.throws(
      () => decodeProtobufBody(Buffer.concat([Buffer.from('k8s\0', 'latin1'), unknown])),
      (e: unknown) => e instanceof ApiError && e.code === 415,
    );
    assert.throws(
      () => decodeProtobufBody(Buffer.from('nope')),
      (e: unknown) => e instanceof ApiError && e.code === 400,
    );
    assert.throws(
      () => decodeProtobufBody(Buffer.concat([Buffer.from('k8s\0', 'latin1'), Buffer.from([0x0a, 0x50])])),
      (e: unknown) => e instanceof ApiError && e.code === 400,
    );
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { validateTraceJob, type TraceJob } from '../../src/api/tracejob.ts';
import {
  decidingPolicy,
  evaluatePolicy,
  validateTracePolicy,
  type ActiveCounts,
  type TracePolicy,
} from '../../src/api/tracepolicy.ts';
import { selectorMatches, selectorToQuery } from '../../src/api/selector.ts';
import { policyCrdValidator } from './crd-fixtures.ts';
import { exampleObjects, traceJob } from './examples.ts';

function policy(name: string, spec: Record<string, unknown>): TracePolicy {
  const result = validateTracePolicy({
    apiVersion: 'tracejob.dev/v1alpha1',
    kind: 'TracePolicy',
    metadata: { name },
    spec,
  });
  assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
  return result.value;
}

function job(spec: Record<string, unknown> = {}): TraceJob {
  const result = validateTraceJob(traceJob(spec));
  assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
  return result.value;
}

const teamA = { 'kubernetes.io/metadata.name': 'team-a', team: 'a' };
const idle: ActiveCounts = { inNamespace: 0 };
const permissive = policy('permissive', {
  namespaceSelector: { matchLabels: { team: 'a' } },
  allowedTracers: ['profile', 'perf', 'bpftrace', 'tool', 'strace', 'ftrace', 'gdb'],
  allowedTools: ['offcputime', 'execsnoop'],
  allowedBpftraceScripts: ['tcplife'],
  allowCustomBpftrace: true,
  maxDuration: '10m',
  maxConcurrentPerNamespace: 2,
  maxConcurrentPerNode: 1,
  allowedStorageProfiles: ['archive'],
  allowKernelStacks: true,
  maxTargets: 5,
});
const strict = policy('strict', { namespaceSelector: {} });

describe('evaluatePolicy', () => {
  const cases: {
    name: string;
    policies: TracePolicy[];
    job: TraceJob;
    counts?: ActiveCounts;
    rule?: string;
    says?: RegExp;
    policy?: string;
  }[] = [
    {
      name: 'no policy selects the namespace',
      policies: [policy('other', { namespaceSelector: { matchLabels: { team: 'b' } } })],
      job: job(),
      rule: 'namespaceSelector',
      says: /no TracePolicy selects namespace "team-a".*create a TracePolicy.*"kubernetes.io\/metadata.name": "team-a"/,
    },
    { name: 'a profile within every limit', policies: [permissive], job: job(), policy: 'permissive' },
    {
      name: 'a tracer type the policy leaves out',
      policies: [strict],
      job: job({ tracer: { type: 'strace' } }),
      rule: 'allowedTracers',
      says: /TracePolicy "strict" rule allowedTracers: tracer type strace is not allowed; allowed: profile/,
    },
    {
      name: 'a tool the policy leaves out',
      policies: [permissive],
      job: job({ tracer: { type: 'tool', tool: { name: 'opensnoop' } } }),
      rule: 'allowedTools',
      says: /tool opensnoop is not allowed; allowed: offcputime, execsnoop/,
    },
    {
      name: 'a custom bpftrace program without allowCustomBpftrace',
      policies: [
        policy('p', { namespaceSelector: {}, allowedTracers: ['bpftrace'], allowedBpftraceScripts: ['tcplife'] }),
      ],
      job: job({ tracer: { type: 'bpftrace', bpftrace: { program: 'BEGIN { exit(); }' } } }),
      rule: 'allowCustomBpftrace',
      says: /custom bpftrace programs.*not allowed; use bpftrace.script with one of: tcplife/,
    },
    {
      name: 'a bundled bpftrace script that is allowed, without custom programs',
      policies: [
        policy('p', { namespaceSelector: {}, allowedTracers: ['bpftrace'], allowedBpftraceScripts: ['tcplife'] }),
      ],
      job: job({ tracer: { type: 'bpftrace', bpftrace: { script: 'tcplife' } } }),
      policy: 'p',
    },
    {
      name: 'a bundled bpftrace script the policy leaves out',
      policies: [permissive],
      job: job({ tracer: { type: 'bpftrace', bpftrace: { script: 'execsnoop' } } }),
      rule: 'allowedBpftraceScripts',
      says: /script execsnoop is not allowed; allowed: tcplife/,
    },
    {
      name: 'a duration over the maximum',
      policies: [permissive],
      job: job({ duration: '11m' }),
      rule: 'maxDuration',
      says: /spec.duration 11m is longer than the 10m allowed/,
    },
    {
      name: 'an output format the policy leaves out',
      policies: [
        policy('p', { namespaceSelector: {}, allowedOutputs: ['flamegraph', 'summary'], allowKernelStacks: true }),
      ],
      job: job(),
      rule: 'allowedOutputs',
      says: /output folded is not allowed; allowed: flamegraph, summary/,
    },
    {
      name: 'a storage profile the policy leaves out',
      policies: [permissive],
      job: job({ storage: 'public-bucket' }),
      rule: 'allowedStorageProfiles',
      says: /storage profile public-bucket is not allowed; allowed: archive/,
    },
    {
      name: 'kernel stacks by default when they are not allowed',
      policies: [strict],
      job: job(),
      rule: 'allowKernelStacks',
      says: /set spec.tracer.profile.kernelStacks: false/,
    },
    {
      name: 'user stacks only when kernel stacks are not allowed',
      policies: [strict],
      job: job({ tracer: { type: 'profile', profile: { kernelStacks: false } } }),
      policy: 'strict',
    },
    {
      name: 'a tool that always records kernel stacks',
      policies: [policy('p', { namespaceSelector: {}, allowedTracers: ['tool'], allowedTools: ['offcputime'] })],
      job: job({ tracer: { type: 'tool', tool: { name: 'offcputime' } } }),
      rule: 'allowKernelStacks',
      says: /offcputime always records kernel stacks/,
    },
    {
      name: 'the namespace is at its concurrency limit',
      policies: [permissive],
      job: job(),
      counts: { inNamespace: 2 },
      rule: 'maxConcurrentPerNamespace',
      says: /2 TraceJobs already run in namespace team-a, the most allowed is 2/,
    },
    {
      name: 'a target node is at its concurrency limit',
      policies: [permissive],
      job: job(),
      counts: { inNamespace: 1, perNode: { 'node-a': 0, 'node-b': 1 }, targetNodes: ['node-a', 'node-b'] },
      rule: 'maxConcurrentPerNode',
      says: /1 tracer pods already run on node node-b/,
    },
    {
      name: 'the highest priority policy decides alone',
      policies: [
        strict,
        policy('team', { namespaceSelector: { matchLabels: { team: 'a' } }, priority: 5, allowedTracers: ['strace'] }),
      ],
      job: job({ tracer: { type: 'strace' } }),
      policy: 'team',
    },
    {
      name: 'equal priorities: the first name decides',
      policies: [
        policy('b-open', { namespaceSelector: {}, allowedTracers: ['gdb'] }),
        policy('a-closed', { namespaceSelector: {} }),
      ],
      job: job({ tracer: { type: 'gdb' } }),
      rule: 'allowedTracers',
      says: /TracePolicy "a-closed"/,
    },
  ];

  for (const c of cases) {
    test(c.name, () => {
      const decision = evaluatePolicy(c.policies, teamA, c.job, c.counts ?? idle);
      if (c.rule === undefined) {
        assert.deepEqual(decision.allowed ? decision.policy : decision, c.policy);
      } else {
        assert.ok(!decision.allowed, 'allowed');
        assert.equal(decision.rule, c.rule);
        assert.match(decision.message, c.says!);
        if (c.rule !== 'namespaceSelector') assert.match(decision.message, new RegExp(`rule ${c.rule}`));
      }
    });
  }

  test('concurrency denials are retryable, the others are not', () => {
    const busy = evaluatePolicy([permissive], teamA, job(), { inNamespace: 5 });
    assert.ok(!busy.allowed && busy.retryable);
    const denied = evaluatePolicy([strict], teamA, job({ tracer: { type: 'gdb' } }), idle);
    assert.ok(!denied.allowed && !denied.retryable);
  });

  test('maxTargets is lowered to the policy cap', () => {
    const fleet = job({ target: { selector: { matchLabels: { app: 'web' } }, maxTargets: 50 } });
    const decision = evaluatePolicy([permissive], teamA, fleet, idle);
    assert.deepEqual(decision, { allowed: true, policy: 'permissive', maxTargets: 5 });
  });
});

test('decidingPolicy ignores policies whose selector does not match', () => {
  const b = policy('b', {
    namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In', values: ['b'] }] },
    priority: 100,
  });
  assert.equal(decidingPolicy([b, strict], teamA)?.metadata.name, 'strict');
  assert.equal(decidingPolicy([b], teamA), undefined);
});

test('label selectors: Kubernetes semantics', () => {
  const labels = { app: 'web', tier: 'front' };
  const table: [Parameters<typeof selectorMatches>[0], boolean, string][] = [
    [{}, true, ''],
    [{ matchLabels: { app: 'web' } }, true, 'app=web'],
    [{ matchLabels: { app: 'db' } }, false, 'app=db'],
    [{ matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'back'] }] }, true, 'tier in (front,back)'],
    [{ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] }, false, 'tier notin (front)'],
    [{ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, true, 'zone notin (a)'],
    [{ matchExpressions: [{ key: 'app', operator: 'Exists' }] }, true, 'app'],
    [{ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, false, '!app'],
    [
      { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'canary', operator: 'DoesNotExist' }] },
      true,
      'app=web,!canary',
    ],
  ];
  for (const [selector, matches, query] of table) {
    assert.equal(selectorMatches(selector, labels), matches, JSON.stringify(selector));
    assert.equal(selectorToQuery(selector), query);
  }
});

test('TracePolicy defaults are conservative', () => {
  const { spec } = policy('d', { namespaceSelector: {} });
  assert.deepEqual(spec.allowedTracers, ['profile']);
  assert.deepEqual(spec.allowedTools, []);
  assert.equal(spec.allowCustomBpftrace, false);
  assert.equal(spec.allowKernelStacks, false);
  assert.equal(spec.maxDuration, '5m');
  assert.deepEqual(spec.allowedStorageProfiles, []);
});

test('invalid TracePolicies are refused with the field named, by the schema and by the CRD', () => {
  const validateCrd = policyCrdValidator();
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ namespaceSelector: {}, allowedTracers: ['dtrace'] }, 'spec.allowedTracers[0]', /accepted: profile, perf/],
    [{ namespaceSelector: {}, allowedTools: ['bash'] }, 'spec.allowedTools[0]', /accepted: offcputime/],
    [{ namespaceSelector: {}, maxDuration: '2h' }, 'spec.maxDuration', /accepted: 1s\.\.1h/],
    [{ namespaceSelector: {}, maxConcurrentPerNode: 0 }, 'spec.maxConcurrentPerNode', /accepted: 1\.\.1000/],
    [{ allowedTracers: ['profile'] }, 'spec.namespaceSelector', /required/],
    [
      { namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In' }] } },
      'spec.namespaceSelector.matchExpressions[0].values',
      /needs at least one value/,
    ],
    [{ namespaceSelector: { matchLabels: { team: 'a b' } } }, 'spec.namespaceSelector.matchLabels.team', /label value/],
  ];
  for (const [spec, field, says] of cases) {
    const obj = { apiVersion: 'tracejob.dev/v1alpha1', kind: 'TracePolicy', metadata: { name: 'x' }, spec };
    const result = validateTracePolicy(obj);
    assert.ok(!result.ok, JSON.stringify(spec));
    const error = result.errors.find((e) => e.field === field);
    assert.ok(error, `${field}: ${JSON.stringify(result.errors)}`);
    assert.match(error.message, says);
    assert.notDeepEqual(validateCrd(obj), [], `CRD accepted ${JSON.stringify(spec)}`);
  }
});

test('the example TracePolicy is valid and admits the examples it is meant for', () => {
  const validateCrd = policyCrdValidator();
  const examples = exampleObjects();
  const team = examples.find(({ obj }) => obj.kind === 'TracePolicy')!.obj;
  assert.deepEqual(validateCrd(team), []);
  const result = validateTracePolicy(team);
  assert.ok(result.ok);
  const labels = { 'kubernetes.io/metadata.name': 'demo', team: 'payments' };
  for (const file of ['profile.yaml', 'tool-offcputime.yaml', 'bpftrace-script.yaml', 'strace-summary.yaml']) {
    const tj = validateTraceJob(examples.find((e) => e.file === file)!.obj);
    assert.ok(tj.ok);
    assert.deepEqual(
      evaluatePolicy([result.value], labels, tj.value, idle),
      {
        allowed: true,
        policy: 'payments',
        maxTargets: 10,
      },
      file,
    );
  }
  const custom = validateTraceJob(examples.find((e) => e.file === 'bpftrace-inline.yaml')!.obj);
  assert.ok(custom.ok);
  const decision = evaluatePolicy([result.value], labels, custom.value, idle);
  assert.ok(!decision.allowed && decision.rule === 'allowCustomBpftrace');
});

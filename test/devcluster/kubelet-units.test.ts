import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { V1Container, V1Pod } from '@kubernetes/client-node';

import {
  ContainerConfigError,
  containerEnv,
  expand,
  referencedObjects,
  type PodObjects,
} from '../../src/devcluster/kubelet/env.ts';
import { containerArgv, parseImage, tracerShim } from '../../src/devcluster/kubelet/image.ts';
import { criLogText, CriLogWriter, readContainerLog } from '../../src/devcluster/kubelet/logs.ts';
import { nodeObject, type MachineInfo } from '../../src/devcluster/kubelet/node.ts';
import { kubeTime, toKubeJson } from '../../src/devcluster/kubelet/api.ts';
import {
  containerResources,
  oomScoreAdj,
  parseQuantity,
  qosClass,
  podSpecErrors,
} from '../../src/devcluster/kubelet/resources.ts';
import {
  podPhase,
  podStatus,
  terminatedReason,
  terminationMessage,
  type ContainerRecord,
} from '../../src/devcluster/kubelet/status.ts';
import { containerMounts, prepareVolumes } from '../../src/devcluster/kubelet/volumes.ts';

function pod(containers: Partial<V1Container>[], extra: Partial<V1Pod['spec']> = {}): V1Pod {
  return {
    metadata: { name: 'web-0', namespace: 'shop', uid: 'u-1', labels: { app: 'web' }, annotations: { team: 'a' } },
    spec: {
      nodeName: 'node-a',
      containers: containers.map((c, i) => ({ name: `c${i}`, image: 'busybox', ...c })),
      ...extra,
    },
  };
}

describe('quantities and QoS', () => {
  test('parseQuantity', () => {
    const cases: [string, number | undefined][] = [
      ['100m', 0.1],
      ['1', 1],
      ['0.5', 0.5],
      ['128Mi', 128 * 2 ** 20],
      ['1G', 1e9],
      ['1e3', 1000],
      ['1.5Gi', 1.5 * 2 ** 30],
      ['abc', undefined],
      ['1Qi', undefined],
      ['', undefined],
    ];
    for (const [input, want] of cases) assert.equal(parseQuantity(input), want, input);
  });

  const cases: [string, Partial<V1Container>[], string][] = [
    ['no resources', [{}], 'BestEffort'],
    ['requests only', [{ resources: { requests: { cpu: '100m' } } }], 'Burstable'],
    [
      'limits equal requests',
      [{ resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '1000m', memory: '1Gi' } } }],
      'Guaranteed',
    ],
    [
      'limits only (requests default to them)',
      [{ resources: { limits: { cpu: '500m', memory: '64Mi' } } }],
      'Guaranteed',
    ],
    ['only cpu limited', [{ resources: { limits: { cpu: '500m' } } }], 'Burstable'],
    ['one guaranteed one best effort', [{ resources: { limits: { cpu: '1', memory: '1Gi' } } }, {}], 'Burstable'],
  ];
  for (const [name, containers, want] of cases) {
    test(`qosClass: ${name}`, () => assert.equal(qosClass(pod(containers)), want));
  }

  test('cgroup settings from requests and limits', () => {
    assert.deepEqual(
      containerResources({
        name: 'a',
        resources: { requests: { cpu: '250m' }, limits: { cpu: '500m', memory: '64Mi' } },
      }),
      {
        cpuShares: 256,
        cpuQuotaMicros: 50000,
        memoryLimitBytes: 64 * 2 ** 20,
      },
    );
    assert.deepEqual(containerResources({ name: 'a' }), { cpuShares: 2 });
    assert.equal(containerResources({ name: 'a', resources: { requests: { cpu: '1m' } } }).cpuShares, 2);
  });

  test('oom_score_adj per QoS class', () => {
    const gib = 2 ** 30;
    assert.equal(oomScoreAdj('Guaranteed', { name: 'a' }, 8 * gib), -997);
    assert.equal(oomScoreAdj('BestEffort', { name: 'a' }, 8 * gib), 1000);
    assert.equal(oomScoreAdj('Burstable', { name: 'a', resources: { requests: { memory: '4Gi' } } }, 8 * gib), 500);
    assert.equal(oomScoreAdj('Burstable', { name: 'a', resources: { requests: { memory: '8Gi' } } }, 8 * gib), 2);
  });

  test('spec errors name the field: quantities, and names that become host paths', () => {
    const errors = podSpecErrors(pod([{ resources: { limits: { memory: 'lots' } } }]));
    assert.equal(errors.length, 1);
    assert.match(errors[0], /^spec\.containers\[0\]\.resources\.limits\.memory: "lots" is not a quantity/);
    assert.deepEqual(
      podSpecErrors(pod([{ name: '../../etc' }, { name: 'ok' }, { name: 'ok' }], { volumes: [{ name: 'a/b' }] })),
      [
        'spec.containers[0].name: "../../etc" must be a DNS-1123 label',
        'spec.containers[2].name: "ok" is used twice',
        'spec.volumes[0].name: "a/b" must be a DNS-1123 label',
      ],
    );
    assert.deepEqual(podSpecErrors(pod([])), ['spec.containers: at least one container is required']);
  });
});

describe('environment', () => {
  const objects: PodObjects = {
    configMaps: new Map([['settings', { mode: Buffer.from('fast'), level: Buffer.from('3') }]]),
    secrets: new Map([['creds', { password: Buffer.from('s3cr3t') }]]),
  };
  const addresses = { hostIP: '10.0.0.1', podIP: '10.0.0.2' };
  const node = { cpu: 4, memoryBytes: 8 * 2 ** 30 };

  test('$(VAR) expansion', () => {
    assert.equal(expand('$(A)-$(B)-$$(A)-$(', { A: 'x' }), 'x-$(B)-$(A)-$(');
  });

  test('value, valueFrom and envFrom, in kubelet order', () => {
    const p = pod([]);
    const env = containerEnv(
      p,
      {
        name: 'c',
        envFrom: [{ configMapRef: { name: 'settings' }, prefix: 'CFG_' }],
        env: [
          { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
          { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'settings', key: 'mode' } } },
          { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
          { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
          { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
          { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: 'CPUS', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
          { name: 'GREETING', value: '$(POD) in $(NS), $(MISSING)' },
          { name: 'OPT', valueFrom: { secretKeyRef: { name: 'absent', key: 'k', optional: true } } },
        ],
      },
      objects,
      addresses,
      node,
    );
    assert.deepEqual(env, {
      CFG_mode: 'fast',
      CFG_level: '3',
      PASSWORD: 's3cr3t',
      MODE: 'fast',
      POD: 'web-0',
      NS: 'shop',
      APP: 'web',
      NODE: 'node-a',
      IP: '10.0.0.2',
      CPUS: '4',
      GREETING: 'web-0 in shop, $(MISSING)',
    });
  });

  test('missing objects and keys are config errors with kubelet messages', () => {
    const p = pod([]);
    assert.throws(
      () =>
        containerEnv(
          p,
          { name: 'c', env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'nope', key: 'k' } } }] },
          objects,
          addresses,
          node,
        ),
      (err: Error) => err instanceof ContainerConfigError && err.message === 'secret "nope" not found',
    );
    assert.throws(
      () =>
        containerEnv(
          p,
          { name: 'c', env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'settings', key: 'k' } } }] },
          objects,
          addresses,
          node,
        ),
      /couldn't find key k in ConfigMap shop\/settings/,
    );
    assert.throws(
      () =>
        containerEnv(
          p,
          { name: 'c', env: [{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'spec.bogus' } } }] },
          objects,
          addresses,
          node,
        ),
      /fieldPath "spec.bogus" is not supported/,
    );
  });

  test('referencedObjects collects env, envFrom and volume references', () => {
    const p = pod(
      [
        {
          env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 's1', key: 'k' } } }],
          envFrom: [{ configMapRef: { name: 'c1' } }],
        },
      ],
      {
        volumes: [
          { name: 'v', configMap: { name: 'c2' } },
          { name: 'w', secret: { secretName: 's2' } },
          { name: 'p', projected: { sources: [{ configMap: { name: 'c3' } }] } },
        ],
      },
    );
    const refs = referencedObjects(p);
    assert.deepEqual([...refs.configMaps].sort(), ['c1', 'c2', 'c3']);
    assert.deepEqual([...refs.secrets].sort(), ['s1', 's2']);
  });
});

describe('images', () => {
  test('references are normalised; our tracer image is recognised by repository', () => {
    assert.equal(parseImage('busybox').name, 'docker.io/library/busybox:latest');
    assert.equal(parseImage('ghcr.io/acme/tracejob:v1').tracer, true);
    assert.equal(parseImage('localhost:5000/tracejob').tracer, true);
    assert.equal(parseImage('ghcr.io/acme/tracejob-ui:v1').tracer, false);
    assert.equal(parseImage('acme/app:1').name, 'docker.io/acme/app:1');
    assert.match(parseImage('busybox').imageID, /^docker\.io\/library\/busybox@sha256:[0-9a-f]{64}$/);
    assert.equal(parseImage('ex.com/a@sha256:' + 'b'.repeat(64)).imageID, `ex.com/a@sha256:${'b'.repeat(64)}`);
    assert.throws(() => parseImage(''));
    assert.throws(() => parseImage('a b'));
  });

  test('argv from command, args and the stand-in entrypoints', () => {
    const plain = parseImage('busybox');
    const tracer = parseImage('example.com/tracejob:dev');
    assert.deepEqual(containerArgv(plain, ['sh', '-c'], ['echo hi']), ['sh', '-c', 'echo hi']);
    assert.deepEqual(containerArgv(plain, undefined, ['sleep', '1']), ['sleep', '1']);
    assert.deepEqual(containerArgv(plain, undefined, undefined), ['sh']);
    assert.deepEqual(containerArgv(tracer, undefined, ['--help']), ['tracejob', '--help']);
  });

  test('the shim quotes paths for sh', () => {
    assert.equal(
      tracerShim("/w/it's"),
      `#!/bin/sh\nexec '/w/it'\\''s/node_modules/.bin/node' '/w/it'\\''s/bin/tracejob.js' "$@"\n`,
    );
  });
});

describe('container and pod status', () => {
  const running = (name: string): ContainerRecord => ({
    name,
    image: 'i',
    imageID: 'x',
    restartCount: 0,
    state: { running: { startedAt: new Date() } },
  });
  const exited = (name: string, exitCode: number): ContainerRecord => ({
    name,
    image: 'i',
    imageID: 'x',
    restartCount: 0,
    state: { terminated: { exitCode, reason: exitCode ? 'Error' : 'Completed' } },
  });
  const waiting = (name: string): ContainerRecord => ({
    name,
    image: 'i',
    imageID: 'x',
    restartCount: 0,
    state: { waiting: { reason: 'ContainerCreating' } },
  });

  test('terminated reasons', () => {
    assert.equal(terminatedReason({ exitCode: 0, oomKilled: false }), 'Completed');
    assert.equal(terminatedReason({ exitCode: 2, oomKilled: false }), 'Error');
    assert.equal(terminatedReason({ exitCode: 137, oomKilled: true }), 'OOMKilled');
  });

  test('termination messages: last 4096 bytes of the file, else logs on error with the fallback policy', () => {
    const big = Buffer.from('a'.repeat(5000) + 'END');
    const fromFile = terminationMessage({ file: big, policy: undefined, exitCode: 0, log: '' });
    assert.equal(fromFile?.length, 4096);
    assert.ok(fromFile?.endsWith('END'));
    const log = Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n') + '\n';
    assert.equal(terminationMessage({ file: Buffer.alloc(0), policy: 'File', exitCode: 1, log }), undefined);
    assert.equal(
      terminationMessage({ file: Buffer.alloc(0), policy: 'FallbackToLogsOnError', exitCode: 0, log }),
      undefined,
    );
    const fallback = terminationMessage({ file: Buffer.alloc(0), policy: 'FallbackToLogsOnError', exitCode: 1, log });
    assert.ok(fallback?.startsWith('line 20\n'));
    assert.ok(fallback?.endsWith('line 99'));
    const long = Array.from({ length: 10 }, () => 'x'.repeat(500)).join('\n');
    assert.equal(
      terminationMessage({ file: Buffer.alloc(0), policy: 'FallbackToLogsOnError', exitCode: 1, log: long })?.length,
      2048,
    );
  });

  test('phases', () => {
    assert.equal(podPhase('Never', [], [waiting('a')]), 'Pending');
    assert.equal(podPhase('Never', [], [running('a'), exited('b', 0)]), 'Running');
    assert.equal(podPhase('Never', [], [exited('a', 0), exited('b', 0)]), 'Succeeded');
    assert.equal(podPhase('Never', [], [exited('a', 0), exited('b', 1)]), 'Failed');
    assert.equal(podPhase('OnFailure', [], [{ ...exited('a', 1), restarting: true }]), 'Running');
    assert.equal(podPhase('Never', [exited('init', 1)], [waiting('a')]), 'Failed');
    assert.equal(podPhase('Always', [exited('init', 1)], [waiting('a')]), 'Pending');
    assert.equal(podPhase('Never', [running('init')], [waiting('a')]), 'Pending');
  });

  test('pod status: conditions keep their transition time while unchanged; failures override the phase', () => {
    const now = new Date('2026-01-01T00:00:10Z');
    const p = pod([{}]);
    const first = podStatus({
      pod: p,
      initContainers: [],
      containers: [running('c0')],
      qosClass: 'BestEffort',
      hostIP: '127.0.0.1',
      startTime: now,
      now,
      sandboxReady: true,
    });
    assert.equal(first.phase, 'Running');
    assert.equal(first.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    const later = new Date('2026-01-01T00:01:00Z');
    const second = podStatus({
      pod: { ...p, status: first },
      initContainers: [],
      containers: [running('c0')],
      qosClass: 'BestEffort',
      hostIP: '127.0.0.1',
      startTime: now,
      now: later,
      sandboxReady: true,
    });
    assert.equal(second.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime, now);
    const failed = podStatus({
      pod: { ...p, status: second },
      initContainers: [],
      containers: [exited('c0', 137)],
      qosClass: 'BestEffort',
      hostIP: '127.0.0.1',
      startTime: now,
      now: later,
      sandboxReady: true,
      failure: { reason: 'DeadlineExceeded', message: 'too long' },
    });
    assert.equal(failed.phase, 'Failed');
    assert.equal(failed.reason, 'DeadlineExceeded');
    const ready = failed.conditions?.find((c) => c.type === 'Ready');
    assert.equal(ready?.status, 'False');
    assert.equal(ready?.reason, 'PodCompleted');
    assert.equal(ready?.lastTransitionTime, later);
    assert.deepEqual(failed.containerStatuses?.[0].state, { terminated: { exitCode: 137, reason: 'Error' } });
  });

  test('times are written with second precision', () => {
    assert.equal(kubeTime(new Date('2026-01-02T03:04:05.678Z')), '2026-01-02T03:04:05Z');
    assert.deepEqual(toKubeJson({ a: new Date('2026-01-02T03:04:05.678Z'), b: undefined, c: [null] }), {
      a: '2026-01-02T03:04:05Z',
      c: [null],
    });
  });
});

describe('CRI logs', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'tracejob-logs-'))));
  after(() => rm(dir, { recursive: true, force: true }));

  async function collect(stream: NodeJS.ReadableStream): Promise<string> {
    let out = '';
    for await (const chunk of stream) out += String(chunk);
    return out;
  }

  test('lines keep their stream and time; partial lines, tail and timestamps', async () => {
    const path = join(dir, 'a.log');
    const writer = new CriLogWriter(path);
    const out = new PassThrough();
    const err = new PassThrough();
    writer.attach(out, 'stdout');
    writer.attach(err, 'stderr');
    out.write('one\ntw');
    out.write('o\n');
    err.write('oops\n');
    out.end('no newline');
    err.end();
    await new Promise((resolve) => writer.once('closed', resolve));
    const raw = await readFile(path, 'utf8');
    assert.match(raw, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stdout F one$/m);
    assert.match(raw, /stderr F oops$/m);
    assert.match(raw, /stdout P no newline$/m);
    assert.equal(await collect(readContainerLog(path, {})), 'one\ntwo\noops\nno newline');
    assert.equal(await collect(readContainerLog(path, { tailLines: 2 })), 'oops\nno newline');
    assert.match(await collect(readContainerLog(path, { timestamps: true, tailLines: 1 })), /^\S+Z no newline$/);
    assert.equal(await collect(readContainerLog(path, { limitBytes: 5 })), 'one\nt');
    assert.equal(criLogText(await readFile(path)), 'one\ntwo\noops\nno newline');
  });

  test('lines longer than 16 KiB become partial records and read back whole', async () => {
    const path = join(dir, 'long.log');
    const writer = new CriLogWriter(path);
    const out = new PassThrough();
    writer.attach(out, 'stdout');
    const line = 'x'.repeat(40_000);
    out.end(`${line}\nshort\n`);
    await new Promise((resolve) => writer.once('closed', resolve));
    const records = (await readFile(path, 'utf8')).trim().split('\n');
    assert.deepEqual(
      records.map((r) => r.split(' ')[2]),
      ['P', 'P', 'F', 'F'],
    );
    assert.equal(await collect(readContainerLog(path, {})), `${line}\nshort\n`);
    assert.equal(await collect(readContainerLog(path, { tailLines: 2 })), `${line}\nshort\n`);
  });

  test('follow streams appended lines until the writer closes', async () => {
    const path = join(dir, 'follow.log');
    const writer = new CriLogWriter(path);
    const out = new PassThrough();
    writer.attach(out, 'stdout');
    out.write('first\n');
    const reading = collect(readContainerLog(path, { follow: true }, writer));
    await new Promise((resolve) => setTimeout(resolve, 50));
    out.write('second\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    out.end('third\n');
    assert.equal(await reading, 'first\nsecond\nthird\n');
  });

  test('follow ends when the request is aborted', async () => {
    const path = join(dir, 'abort.log');
    const writer = new CriLogWriter(path);
    const out = new PassThrough();
    writer.attach(out, 'stdout');
    out.write('only\n');
    const abort = new AbortController();
    const reading = collect(readContainerLog(path, { follow: true, signal: abort.signal }, writer));
    setTimeout(() => abort.abort(), 50);
    assert.equal(await reading, 'only\n');
    out.end();
  });
});

describe('volumes', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'tracejob-volumes-'))));
  after(() => rm(dir, { recursive: true, force: true }));
  const objects: PodObjects = {
    configMaps: new Map([['cfg', { 'app.conf': Buffer.from('x=1'), other: Buffer.from('y') }]]),
    secrets: new Map([['sec', { token: Buffer.from('t0k3n') }]]),
  };
  const addresses = { hostIP: '127.0.0.1', podIP: '127.0.0.1' };

  test('configMap, secret (read-only), emptyDir, downwardAPI and hostPath volumes, with items and subPath', async () => {
    const hostDir = join(dir, 'host');
    const p = pod([], {
      volumes: [
        {
          name: 'config',
          configMap: { name: 'cfg', items: [{ key: 'app.conf', path: 'conf/app.conf', mode: 0o600 }] },
        },
        { name: 'secret', secret: { secretName: 'sec', defaultMode: 0o400 } },
        { name: 'scratch', emptyDir: {} },
        { name: 'info', downwardAPI: { items: [{ path: 'name', fieldRef: { fieldPath: 'metadata.name' } }] } },
        { name: 'host', hostPath: { path: hostDir, type: 'DirectoryOrCreate' } },
      ],
    });
    const volumes = await prepareVolumes(p, join(dir, 'pod'), objects, addresses);
    assert.equal(await readFile(join(volumes.get('config')!.hostPath, 'conf/app.conf'), 'utf8'), 'x=1');
    assert.equal((await stat(join(volumes.get('config')!.hostPath, 'conf/app.conf'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(volumes.get('secret')!.hostPath, 'token'))).mode & 0o777, 0o400);
    assert.equal(await readFile(join(volumes.get('info')!.hostPath, 'name'), 'utf8'), 'web-0');
    assert.equal(volumes.get('host')!.hostPath, hostDir);
    assert.ok((await stat(hostDir)).isDirectory());
    const mounts = containerMounts(
      {
        name: 'c',
        volumeMounts: [
          { name: 'config', mountPath: '/etc/app' },
          { name: 'scratch', mountPath: '/data', subPath: 'sub' },
          { name: 'host', mountPath: '/host', readOnly: true },
        ],
      },
      volumes,
    );
    assert.deepEqual(
      mounts.map((m) => [m.destination, m.readOnly]),
      [
        ['/etc/app', true],
        ['/data', false],
        ['/host', true],
      ],
    );
    assert.equal(mounts[1].source, join(volumes.get('scratch')!.hostPath, 'sub'));
  });

  test('missing objects, bad hostPath types and escaping paths are config errors', async () => {
    const missing = pod([], { volumes: [{ name: 'v', configMap: { name: 'absent' } }] });
    await assert.rejects(prepareVolumes(missing, join(dir, 'p2'), objects, addresses), /configmap "absent" not found/);
    const optional = pod([], { volumes: [{ name: 'v', configMap: { name: 'absent', optional: true } }] });
    await prepareVolumes(optional, join(dir, 'p3'), objects, addresses);
    await writeFile(join(dir, 'file'), '');
    const wrongType = pod([], { volumes: [{ name: 'v', hostPath: { path: join(dir, 'file'), type: 'Directory' } }] });
    await assert.rejects(prepareVolumes(wrongType, join(dir, 'p4'), objects, addresses), /is not a Directory/);
    const escaping = pod([], {
      volumes: [{ name: 'v', configMap: { name: 'cfg', items: [{ key: 'other', path: '../../etc/x' }] } }],
    });
    await assert.rejects(prepareVolumes(escaping, join(dir, 'p5'), objects, addresses), /without '\.\.'/);
    const unsupported = pod([], { volumes: [{ name: 'v', nfs: { server: 's', path: '/' } }] });
    await assert.rejects(
      prepareVolumes(unsupported, join(dir, 'p6'), objects, addresses),
      /nfs volumes are not supported/,
    );
    assert.throws(
      () => containerMounts({ name: 'c', volumeMounts: [{ name: 'nope', mountPath: '/x' }] }, new Map()),
      /no volume named "nope"/,
    );
  });
});

describe('node object', () => {
  test('describes the machine with a Ready condition', () => {
    const info: MachineInfo = {
      cpus: 2,
      memoryBytes: 24 * 2 ** 30,
      ephemeralStorageBytes: 100 * 2 ** 30,
      kernelVersion: '6.18.0',
      osImage: 'Debian GNU/Linux 12 (bookworm)',
      architecture: 'amd64',
      machineID: 'm',
      bootID: 'b',
      runtimeVersion: 'runc://1.1.5',
    };
    const node = nodeObject('dev', info, '127.0.0.1', new Date('2026-01-01T00:00:00Z'));
    assert.equal(node.metadata.labels['kubernetes.io/hostname'], 'dev');
    assert.deepEqual(node.status.capacity, {
      cpu: '2',
      memory: `${24 * 2 ** 20}Ki`,
      'ephemeral-storage': `${100 * 2 ** 20}Ki`,
      pods: '110',
    });
    assert.equal(node.status.nodeInfo.kernelVersion, '6.18.0');
    const ready = node.status.conditions.find((c) => c.type === 'Ready');
    assert.equal(ready?.status, 'True');
    assert.equal(ready?.lastHeartbeatTime, '2026-01-01T00:00:00Z');
  });
});

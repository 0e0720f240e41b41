import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as yaml from 'js-yaml';
import { useCluster, type TestCluster } from '../support/cluster.ts';
import { needs } from '../support/requirements.ts';
import { fixtures, uniqueName } from './helpers.ts';

// The real kubectl 1.35 against the cluster, as a user would drive it.

let cluster: TestCluster;
let ns: string;

async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await cluster.kubectl(args, { input });
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}`);
  return r.stdout;
}

function widgetYaml(name: string, size: number): string {
  return yaml.dump({
    apiVersion: 'example.tracejob.dev/v1',
    kind: 'Widget',
    metadata: { name, namespace: ns },
    spec: { size },
  });
}

before(async () => {
  cluster = await useCluster();
  ns = uniqueName('kubectl');
  await kubectl(['create', 'namespace', ns]);
  await kubectl(['apply', '-f', join(fixtures, 'widget-crd.yaml')]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=30s', 'crd/widgets.example.tracejob.dev']);
});

after(async () => {
  await cluster.kubectl(['delete', 'namespace', ns, '--wait=false']);
  await cluster.stop();
});

describe('kubectl', () => {
  test('apply -f creates a custom resource, a second apply updates it', async () => {
    assert.match(
      await kubectl(['apply', '-f', '-'], widgetYaml('applied', 3)),
      /widget.example.tracejob.dev\/applied created/,
    );
    assert.match(
      await kubectl(['apply', '-f', '-'], widgetYaml('applied', 4)),
      /widget.example.tracejob.dev\/applied configured/,
    );
    assert.match(
      await kubectl(['apply', '-f', '-'], widgetYaml('applied', 4)),
      /widget.example.tracejob.dev\/applied unchanged/,
    );
    const got = JSON.parse(await kubectl(['get', 'widget', 'applied', '-n', ns, '-o', 'json'])) as {
      spec: { size: number; color: string };
      metadata: { generation: number };
    };
    assert.equal(got.spec.size, 4);
    assert.equal(got.spec.color, 'green', 'schema default applied');
    assert.equal(got.metadata.generation, 2);
  });

  test('apply of an invalid custom resource fails with the field named', async () => {
    const r = await cluster.kubectl(['apply', '-f', '-'], { input: widgetYaml('toolarge', 1000) });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /spec\.size/);
    assert.match(r.stderr, /less than or equal to 100/);
  });

  test('get prints the printer columns; -o yaml prints the object', async () => {
    await kubectl(['apply', '-f', '-'], widgetYaml('printed', 7));
    await kubectl([
      'patch',
      'widget',
      'printed',
      '-n',
      ns,
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"status":{"phase":"Polished"}}',
    ]);
    const table = await kubectl(['get', 'widgets', '-n', ns]);
    const [header, ...rows] = table.trim().split('\n');
    assert.deepEqual(header?.split(/\s+/), ['NAME', 'SIZE', 'PHASE', 'AGE']);
    const row = rows.find((r) => r.startsWith('printed '));
    assert.match(row ?? '', /^printed\s+7\s+Polished\s+\d+s$/);
    const short = await kubectl(['get', 'wg', 'printed', '-n', ns, '--no-headers']);
    assert.match(short, /^printed\s+7\s+Polished/);
    const doc = yaml.load(await kubectl(['get', 'widget', 'printed', '-n', ns, '-o', 'yaml'])) as {
      kind: string;
      spec: { size: number };
      status: { phase: string };
    };
    assert.equal(doc.kind, 'Widget');
    assert.equal(doc.spec.size, 7);
    assert.equal(doc.status.phase, 'Polished');
  });

  test('describe shows the object and its events', async () => {
    await kubectl(['apply', '-f', '-'], widgetYaml('described', 2));
    const out = await kubectl(['describe', 'widget', 'described', '-n', ns]);
    assert.match(out, /^Name:\s+described$/m);
    assert.match(out, /^Namespace:\s+/m);
    assert.match(out, /Size:\s+2/);
    assert.match(out, /Events:/);
  });

  test('wait --for=jsonpath returns once the condition holds', async () => {
    await kubectl(['apply', '-f', '-'], widgetYaml('awaited', 2));
    const waiting = cluster.kubectl([
      'wait',
      `--for=jsonpath={.status.phase}=Done`,
      '--timeout=30s',
      'widget/awaited',
      '-n',
      ns,
    ]);
    await new Promise((r) => setTimeout(r, 500));
    await kubectl([
      'patch',
      'widget',
      'awaited',
      '-n',
      ns,
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"status":{"phase":"Done"}}',
    ]);
    const r = await waiting;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /condition met/);
  });

  test('delete removes the object', async () => {
    await kubectl(['apply', '-f', '-'], widgetYaml('deleted', 2));
    assert.match(await kubectl(['delete', 'widget', 'deleted', '-n', ns]), /deleted/);
    const r = await cluster.kubectl(['get', 'widget', 'deleted', '-n', ns]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /NotFound/);
  });

  test('explain describes the custom resource from its schema', async () => {
    const out = await kubectl(['explain', 'widgets.spec']);
    assert.match(out, /KIND:\s+Widget/);
    assert.match(out, /What the widget should be/);
    assert.match(out, /size\s+<integer>.*-required-/);
  });

  test('built-ins: create, apply (strategic merge), get -o wide, label, delete', async () => {
    await kubectl(['create', 'configmap', 'made', '-n', ns, '--from-literal=a=1']);
    await kubectl(['create', 'secret', 'generic', 'hidden', '-n', ns, '--from-literal=token=s3cret']);
    const secret = JSON.parse(await kubectl(['get', 'secret', 'hidden', '-n', ns, '-o', 'json'])) as {
      data: { token: string };
    };
    assert.equal(Buffer.from(secret.data.token, 'base64').toString(), 's3cret');
    const pod = (image: string) =>
      yaml.dump({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'pinned', namespace: ns },
        spec: {
          nodeName: 'nowhere',
          containers: [
            { name: 'a', image, command: ['sleep', '1'] },
            { name: 'b', image: 'x/b:1' },
          ],
        },
      });
    await kubectl(['apply', '-f', '-'], pod('x/a:1'));
    await kubectl(['apply', '-f', '-'], pod('x/a:2'));
    const got = JSON.parse(await kubectl(['get', 'pod', 'pinned', '-n', ns, '-o', 'json'])) as {
      spec: { containers: { name: string; image: string }[] };
    };
    assert.deepEqual(
      got.spec.containers.map((c) => `${c.name}=${c.image}`),
      ['a=x/a:2', 'b=x/b:1'],
    );
    const wide = await kubectl(['get', 'pods', '-n', ns, '-o', 'wide']);
    assert.match(wide.split('\n')[0] ?? '', /NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE/);
    assert.match(wide, /pinned\s+0\/2\s+Pending\s+0\s+\S+\s+<none>\s+nowhere/);
    await kubectl(['label', 'configmap', 'made', '-n', ns, 'team=tracing']);
    assert.match(await kubectl(['get', 'cm', '-n', ns, '-l', 'team=tracing', '-o', 'name']), /configmap\/made/);
    await kubectl(['delete', 'configmap', 'made', '-n', ns]);
    assert.doesNotMatch(await kubectl(['get', 'cm', '-n', ns, '-o', 'name']), /configmap\/made/);
  });

  test('run creates a pod with what the flags say', async () => {
    await kubectl([
      'run',
      'runner',
      '-n',
      ns,
      '--image=registry.example/app:1',
      '--restart=Never',
      '--env=MODE=fast',
      '--labels=app=runner',
      '--port=8080',
      '--command',
      '--',
      'sleep',
      '30',
    ]);
    const pod = JSON.parse(await kubectl(['get', 'pod', 'runner', '-n', ns, '-o', 'json'])) as {
      metadata: { labels: Record<string, string> };
      spec: {
        restartPolicy: string;
        containers: {
          image: string;
          command: string[];
          env: { name: string; value: string }[];
          ports: { containerPort: number }[];
        }[];
      };
    };
    assert.deepEqual(pod.metadata.labels, { app: 'runner' });
    assert.equal(pod.spec.restartPolicy, 'Never');
    assert.deepEqual(pod.spec.containers[0]?.command, ['sleep', '30']);
    assert.deepEqual(pod.spec.containers[0]?.env, [{ name: 'MODE', value: 'fast' }]);
    assert.equal(pod.spec.containers[0]?.ports[0]?.containerPort, 8080);
  });

  test('apply --server-side: removes fields dropped from the config, conflicts with another manager unless forced', async () => {
    const cm = (data: Record<string, string>) =>
      yaml.dump({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa', namespace: ns }, data });
    await kubectl(['apply', '--server-side', '-f', '-'], cm({ a: '1', b: '2' }));
    await kubectl(['apply', '--server-side', '-f', '-'], cm({ a: '1' }));
    const data = async () =>
      JSON.parse(await kubectl(['get', 'cm', 'ssa', '-n', ns, '-o', 'jsonpath={.data}'])) as Record<string, string>;
    assert.deepEqual(await data(), { a: '1' });
    await kubectl(['patch', 'cm', 'ssa', '-n', ns, '--type=merge', '-p', '{"data":{"a":"theirs"}}']);
    const conflict = await cluster.kubectl(['apply', '--server-side', '-f', '-'], { input: cm({ a: '1' }) });
    assert.notEqual(conflict.code, 0);
    assert.match(conflict.stderr, /conflict with "kubectl-patch"/);
    assert.match(conflict.stderr, /\.data\.a/);
    assert.deepEqual(await data(), { a: 'theirs' });
    await kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], cm({ a: '1' }));
    assert.deepEqual(await data(), { a: '1' });
  });

  test('get nodes shows this machine Ready', async (t) => {
    if (!cluster.isDevCluster) return t.skip('the node set of a real cluster is its own');
    const out = await kubectl(['get', 'nodes']);
    assert.match(out, new RegExp(`^${cluster.nodeName}\\s+Ready\\s`, 'm'));
  });
});

describe('kubectl logs', () => {
  test('logs of a pod run by the local kubelet', { ...needs('root', 'runc'), timeout: 120_000 }, async () => {
    const local = await useCluster({ kubelet: true });
    try {
      const podYaml = yaml.dump({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'talker', namespace: 'default' },
        spec: {
          restartPolicy: 'Never',
          containers: [
            { name: 'main', image: 'debian:12', command: ['sh', '-c', 'echo hello from the pod; echo second line'] },
          ],
        },
      });
      const applied = await local.kubectl(['apply', '-f', '-'], { input: podYaml });
      assert.equal(applied.code, 0, applied.stderr);
      const waited = await local.kubectl([
        'wait',
        '--for=jsonpath={.status.phase}=Succeeded',
        '--timeout=90s',
        'pod/talker',
      ]);
      assert.equal(waited.code, 0, waited.stderr);
      const logs = await local.kubectl(['logs', 'talker']);
      assert.equal(logs.code, 0, logs.stderr);
      assert.equal(logs.stdout, 'hello from the pod\nsecond line\n');
      const tail = await local.kubectl(['logs', 'talker', '--tail=1']);
      assert.equal(tail.stdout, 'second line\n');
      await local.kubectl(['delete', 'pod', 'talker', '--wait=true', '--timeout=60s']);
    } finally {
      await local.stop();
    }
  });
});

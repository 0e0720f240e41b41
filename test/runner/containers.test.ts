import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import {
  cgroupHierarchies,
  newContainerID,
  removeCgroup,
  runContainer,
  type RunningContainer,
} from '../../src/devcluster/runc.ts';
import { parseResultManifest, TERMINATION_MESSAGE_LIMIT } from '../../src/runner/manifest.ts';
import type { RunnerPlanInput } from '../../src/runner/plan.ts';
import { resolveContainer } from '../../src/runner/resolve.ts';
import { runTrace } from '../../src/runner/run.ts';
import { processAlive } from '../../src/runner/supervise.ts';
import { needs } from '../support/requirements.ts';
import { buildWorkloads, hotJs } from './workloads.ts';

// Real runc containers (own PID and mount namespaces, private /tmp) in kubelet-style cgroups of every layout the
// runner must recognise, each next to decoys it must not take. All cgroups live under a root of this test file's own.
const requirements = needs('root', 'runc', 'cc', 'perf', 'bpftrace');
const run = promisify(execFile);
const cli = new URL('../../bin/tracejob.js', import.meta.url).pathname;
const nodeBinary = process.execPath;
const checkoutDir = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');
let workloads: Awaited<ReturnType<typeof buildWorkloads>>;
let dir: string;
let root: string;
const started: { container: RunningContainer; cgroup: string }[] = [];

before(async () => {
  if (requirements.skip) return;
  workloads = await buildWorkloads();
  dir = await mkdtemp(join(tmpdir(), 'tracejob-containers-'));
  root = `/tracejob-test-${randomBytes(4).toString('hex')}`;
});

after(async () => {
  for (const { container } of started) await container.delete().catch(() => undefined);
  for (const { cgroup } of started) await removeCgroup(cgroup, { removeEmptyAncestors: true }).catch(() => undefined);
  if (root) {
    for (const hierarchy of await cgroupHierarchies())
      await rm(join(hierarchy, root), { recursive: false }).catch(() => undefined);
  }
  await workloads?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function uuid(): string {
  const h = randomBytes(16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The plan target of the `app` container of a pod in namespace default, as the operator would hand it over. */
function containerTarget(pod: string, podUID: string, id: string) {
  return {
    kind: 'container' as const,
    namespace: 'default',
    pod,
    podUID,
    container: 'app',
    containerID: `containerd://${id}`,
  };
}

async function container(cgroup: string, args: string[]): Promise<RunningContainer> {
  const runcId = `tj-${randomBytes(6).toString('hex')}`;
  const c = await runContainer({
    id: runcId,
    stateRoot: join(dir, 'state'),
    bundleDir: join(dir, 'bundles', runcId),
    args,
    cgroupsPath: `${root}${cgroup}`,
    mounts: [
      { source: workloads.dir, destination: '/workloads', readOnly: true },
      { source: new URL('../fixtures/runner/', import.meta.url).pathname, destination: '/fixtures', readOnly: true },
      // The Node.js workload runs the checkout's Node binary; a checkout under /tmp is hidden by the private /tmp.
      { source: checkoutDir, destination: checkoutDir, readOnly: true },
    ],
    stdoutPath: join(dir, `${runcId}.log`),
    stderrPath: join(dir, `${runcId}.log`),
  });
  started.push({ container: c, cgroup: `${root}${cgroup}` });
  return c;
}

/** Host PIDs of a container: its init and every descendant. */
async function treeOf(pid: number): Promise<number[]> {
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => ''))
    .split(' ')
    .filter(Boolean)
    .map(Number);
  const all = [pid];
  for (const child of children) all.push(...(await treeOf(child)));
  return all.sort((a, b) => a - b);
}

async function until(check: () => Promise<boolean>, what: string) {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const twoProcesses = ['/bin/sh', '-c', '/workloads/sleeper & exec /workloads/sleeper'];

test('every cgroup layout resolves to exactly the container’s processes, decoys excluded', requirements, async () => {
  const layouts: { name: string; runtime: string; cgroup: (uid: string, id: string) => string; conmon?: boolean }[] = [
    { name: 'cgroupfs BestEffort', runtime: 'containerd', cgroup: (u, i) => `/kubepods/besteffort/pod${u}/${i}` },
    { name: 'cgroupfs Guaranteed', runtime: 'containerd', cgroup: (u, i) => `/kubepods/pod${u}/${i}` },
    {
      name: 'systemd Burstable containerd',
      runtime: 'containerd',
      cgroup: (u, i) =>
        `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${u.replaceAll('-', '_')}.slice/cri-containerd-${i}.scope`,
    },
    {
      name: 'systemd Guaranteed cri-o with conmon',
      runtime: 'cri-o',
      cgroup: (u, i) => `/kubepods.slice/kubepods-pod${u.replaceAll('-', '_')}.slice/crio-${i}.scope`,
      conmon: true,
    },
    {
      name: 'systemd BestEffort docker',
      runtime: 'docker',
      cgroup: (u, i) =>
        `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${u.replaceAll('-', '_')}.slice/docker-${i}.scope`,
    },
    {
      name: 'mismatched drivers (colon form)',
      runtime: 'containerd',
      cgroup: (u, i) =>
        `/system.slice/containerd.service/kubepods-burstable-pod${u.replaceAll('-', '_')}.slice:cri-containerd:${i}`,
    },
    {
      name: 'nested kubelet',
      runtime: 'containerd',
      cgroup: (u, i) =>
        `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${u.replaceAll('-', '_')}.slice/cri-containerd-${i}.scope`,
    },
  ];
  for (const layout of layouts) {
    const podUID = uuid();
    const id = newContainerID();
    const target = await container(layout.cgroup(podUID, id), twoProcesses);
    // Decoys: another container of the same pod, the same container ID in another pod, and CRI-O's monitor.
    const sidecar = await container(layout.cgroup(podUID, newContainerID()), ['/workloads/sleeper']);
    const otherPod = await container(layout.cgroup(uuid(), id), ['/workloads/sleeper']);
    const conmon = layout.conmon
      ? await container(layout.cgroup(podUID, id).replace(`crio-${id}`, `crio-conmon-${id}`), ['/workloads/sleeper'])
      : undefined;
    await until(async () => (await treeOf(target.hostPid)).length === 2, `${layout.name}: both processes`);
    const expected = await treeOf(target.hostPid);
    const resolved = await resolveContainer({ podUID, containerID: `${layout.runtime}://${id}` });
    assert.deepEqual(
      resolved.processes.map((p) => p.pid),
      expected,
      layout.name,
    );
    const decoys = [sidecar.hostPid, otherPod.hostPid, ...(conmon ? [conmon.hostPid] : [])];
    for (const pid of decoys) assert.ok(!resolved.processes.some((p) => p.pid === pid), `${layout.name}: decoy ${pid}`);
    assert.equal(resolved.processes.find((p) => p.pid === target.hostPid)?.nsPid, 1, `${layout.name}: NSpid`);
    assert.equal(resolved.processes[1]?.comm, 'sleeper');
    // This machine mounts v1 controllers and the v2 tree side by side; runc puts the container in both.
    assert.ok(resolved.cgroupV2Dir?.endsWith(layout.cgroup(podUID, id)), `${layout.name}: ${resolved.cgroupV2Dir}`);
    assert.ok(resolved.cgroupPaths.length >= 1);
    for (const c of [target, sidecar, otherPod, ...(conmon ? [conmon] : [])]) await c.delete();
  }
});

test(
  'processes moved to a sub-cgroup of the container are found; tracejob resolve prints them as JSON',
  requirements,
  async () => {
    const podUID = uuid();
    const id = newContainerID();
    const cgroup = `/kubepods/burstable/pod${podUID}/${id}`;
    const target = await container(cgroup, twoProcesses);
    await until(async () => (await treeOf(target.hostPid)).length === 2, 'both processes');
    const [, child] = await treeOf(target.hostPid);
    for (const hierarchy of await cgroupHierarchies()) {
      const sub = join(hierarchy, root, cgroup, 'worker');
      await mkdir(sub, { recursive: true });
      // A v1 cpuset cgroup takes no process until it has CPUs and memory nodes.
      for (const file of ['cpuset.cpus', 'cpuset.mems']) {
        const parent = await readFile(join(hierarchy, root, cgroup, file), 'utf8').catch(() => undefined);
        if (parent !== undefined) await writeFile(join(sub, file), parent);
      }
      await writeFile(join(sub, 'cgroup.procs'), String(child));
    }
    const { stdout } = await run(nodeBinary, [
      cli,
      'resolve',
      '--pod-uid',
      podUID.replaceAll('-', '_'),
      '--container-id',
      `containerd://${id}`,
    ]);
    const printed = JSON.parse(stdout) as { pids: number[]; processes: { nsPid: number }[]; cgroupId: number };
    assert.deepEqual(
      printed.pids,
      [target.hostPid, child!].sort((a, b) => a - b),
    );
    assert.ok(printed.processes.some((p) => p.nsPid === 1));
    assert.equal(typeof printed.cgroupId, 'number');
    await assert.rejects(
      run(nodeBinary, [cli, 'resolve', '--pod-uid', podUID, '--container-id', `containerd://${newContainerID()}`]),
      (err: { stderr: string }) => {
        assert.match(err.stderr, /Cgroups of that pod that exist: .*pod/);
        return true;
      },
    );
    await target.kill('SIGKILL', { all: true });
    await target.delete();
    for (const hierarchy of await cgroupHierarchies())
      await rm(join(hierarchy, root, cgroup, 'worker'), { recursive: false }).catch(() => undefined);
  },
);

test(
  'a C workload in a container: the hot function leads both the perf and the in-kernel profile',
  requirements,
  async () => {
    const podUID = uuid();
    const id = newContainerID();
    await container(`/kubepods/pod${podUID}/${id}`, ['/workloads/hot', '0']);
    const target = { namespace: 'default', pod: 'hot-0', podUID, container: 'app', containerID: `containerd://${id}` };
    for (const engine of ['perf', 'bpftrace'] as const) {
      const manifest = await runTrace(
        {
          targets: [{ kind: 'container', ...target }],
          tracer: { type: 'profile', profile: { frequency: 99, engine, kernelStacks: true } },
          durationSeconds: 2,
        },
        { workDir: join(dir, `c-${engine}`), graceMs: 5000 },
      );
      assert.equal(manifest.state, 'Succeeded', JSON.stringify(manifest));
      assert.match(
        manifest.summary?.topFrames?.[0]?.frame ?? '',
        /^tracejob_hot_spin/,
        `${engine}: ${JSON.stringify(manifest.summary)}`,
      );
      assert.equal(manifest.targets[0]!.pod, 'hot-0');
    }
    // The same container through the command line, with gdb attaching across the container's namespaces.
    const { stdout } = await run(nodeBinary, [
      cli,
      'trace',
      '--pod-uid',
      podUID,
      '--container-id',
      `containerd://${id}`,
      '--tracer',
      'gdb',
      '--duration',
      '3s',
      '--out',
      join(dir, 'c-gdb'),
    ]);
    assert.match(stdout, /^ +100\.0 +100\.0 +tracejob_hot_spin$/m);
  },
);

test(
  'a Node.js workload with --perf-basic-prof in a container: its JavaScript function names appear',
  requirements,
  async () => {
    const podUID = uuid();
    const id = newContainerID();
    const c = await container(`/kubepods/besteffort/pod${podUID}/${id}`, [
      nodeBinary,
      '--perf-basic-prof',
      '/fixtures/hot.js',
      '60',
    ]);
    // V8 writes /tmp/perf-1.map in the container's own /tmp, under its in-container PID.
    await until(
      async () => (await readdir(`/proc/${c.hostPid}/root/tmp`).catch((): string[] => [])).includes('perf-1.map'),
      'the perf map',
    );
    await new Promise((r) => setTimeout(r, 500));
    const manifest = await runTrace(
      {
        targets: [containerTarget('js-0', podUID, id)],
        tracer: { type: 'perf', perf: { mode: 'record', frequency: 99, callGraph: 'fp', kernelStacks: true } },
        durationSeconds: 3,
        outputs: ['folded', 'summary'],
      },
      { workDir: join(dir, 'js'), graceMs: 5000 },
    );
    assert.equal(manifest.state, 'Succeeded', JSON.stringify(manifest));
    const folded = await readFile(join(dir, 'js', 'stacks.folded'), 'utf8');
    assert.match(folded, /tracejobJsHotLoop/, folded.slice(0, 2000));
    // The default engine sees the JIT map and profiles with perf: bpftrace's symbolizer is too slow for such stacks.
    const auto = await runTrace(
      {
        targets: [containerTarget('js-0', podUID, id)],
        tracer: { type: 'profile', profile: { frequency: 99, engine: 'auto', kernelStacks: true } },
        durationSeconds: 3,
        outputs: ['folded'],
      },
      { workDir: join(dir, 'js-bpftrace'), graceMs: 5000 },
    );
    assert.equal(auto.state, 'Succeeded', JSON.stringify(auto));
    const foldedAuto = await readFile(join(dir, 'js-bpftrace', 'stacks.folded'), 'utf8');
    assert.match(foldedAuto, /tracejobJsHotLoop/, foldedAuto.slice(0, 2000));
    assert.match(auto.targets[0]!.message ?? '', /JIT symbol maps, so perf profiled it/);
    assert.match(manifest.targets[0]!.message ?? '', /JIT symbol map/);
    // The mirrored map was removed again.
    assert.equal((await readdir('/tmp')).includes(`perf-${c.hostPid}.map`), false);
    assert.ok(hotJs.endsWith('hot.js'));
  },
);

test(
  'tracejob runner: plan from TRACEJOB_PLAN, artifacts to the sink, a fitting manifest to the termination log; SIGTERM leaves no tracer behind',
  requirements,
  async () => {
    const podUID = uuid();
    const id = newContainerID();
    await container(`/kubepods/burstable/pod${podUID}/${id}`, ['/workloads/hot', '0']);
    const sinkDir = join(dir, 'sink');
    await mkdir(sinkDir);
    const plan: RunnerPlanInput = {
      traceJob: { namespace: 'team-a', name: 'hot-profile', uid: uuid() },
      node: 'node-1',
      targets: [
        {
          namespace: 'team-a',
          pod: 'hot-0',
          podUID,
          container: 'app',
          containerID: `containerd://${id}`,
          qosClass: 'Burstable',
        },
      ],
      tracer: { type: 'perf', perf: { frequency: 99 } },
      durationSeconds: 2,
      outputs: ['flamegraph', 'folded', 'summary'],
      storage: { type: 'local', directory: sinkDir },
    };
    const terminationLog = join(dir, 'termination-log');
    const env = {
      ...process.env,
      TRACEJOB_PLAN: JSON.stringify(plan),
      TRACEJOB_TERMINATION_LOG: terminationLog,
      TRACEJOB_WORKDIR: join(dir, 'runner-work'),
    };
    await run(nodeBinary, [cli, 'runner'], { env });
    const text = await readFile(terminationLog, 'utf8');
    assert.ok(Buffer.byteLength(text) <= TERMINATION_MESSAGE_LIMIT);
    const manifest = parseResultManifest(text);
    assert.equal(manifest.state, 'Succeeded', text);
    assert.deepEqual(manifest.artifacts.map((a) => a.name).sort(), ['flamegraph.svg', 'stacks.folded', 'summary.json']);
    assert.equal(manifest.summary?.topFrames?.[0]?.frame, 'tracejob_hot_spin');
    assert.deepEqual(manifest.targets[0]!.state, 'Succeeded');
    const stored = join(sinkDir, 'team-a', 'hot-profile', plan.traceJob.uid, 'node-1');
    assert.ok((await readdir(stored)).includes('manifest.json'));

    // An invalid plan is reported through the same channel, naming the field.
    await assert.rejects(
      run(nodeBinary, [cli, 'runner'], {
        env: { ...env, TRACEJOB_PLAN: JSON.stringify({ ...plan, durationSeconds: 0 }) },
      }),
    );
    const invalid = parseResultManifest(await readFile(terminationLog, 'utf8'));
    assert.equal(invalid.reason, 'InvalidPlan');
    assert.match(invalid.message ?? '', /TRACEJOB_PLAN\.durationSeconds/);

    // SIGTERM (the pod is deleted) mid-trace: the tracer gets SIGINT, the runner reports and nothing survives it.
    const workDir = join(dir, 'runner-term');
    const child = spawn(nodeBinary, [cli, 'runner'], {
      env: { ...env, TRACEJOB_PLAN: JSON.stringify({ ...plan, durationSeconds: 60 }), TRACEJOB_WORKDIR: workDir },
      stdio: 'ignore',
    });
    const tracerPidsIn = async (workDir: string) => {
      const found: number[] = [];
      for (const entry of await readdir('/proc')) {
        if (!/^\d+$/.test(entry)) continue;
        const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
        // perf record -o <workDir>/.work/perf.data
        if (cmdline.includes(workDir) && cmdline.includes('record')) found.push(Number(entry));
      }
      return found;
    };
    await until(async () => (await tracerPidsIn(workDir)).length > 0, 'perf record to start');
    const perfPids = await tracerPidsIn(workDir);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 1);
    for (const pid of perfPids) assert.equal(processAlive(pid), false, `tracer ${pid} survived the runner`);
    const interrupted = parseResultManifest(await readFile(terminationLog, 'utf8'));
    assert.equal(interrupted.state, 'Failed');
    assert.equal(interrupted.reason, 'Interrupted');
    // What was recorded until then is still processed and stored.
    assert.ok(
      interrupted.artifacts.some((a) => a.name === 'summary.json'),
      JSON.stringify(interrupted),
    );

    // Even a runner killed outright (SIGKILL, no chance to clean up) takes its tracer with it: parent-death signal.
    const killedDir = join(dir, 'runner-kill');
    const victim = spawn(nodeBinary, [cli, 'runner'], {
      env: { ...env, TRACEJOB_PLAN: JSON.stringify({ ...plan, durationSeconds: 60 }), TRACEJOB_WORKDIR: killedDir },
      stdio: 'ignore',
    });
    await until(async () => (await tracerPidsIn(killedDir)).length > 0, 'perf record to start');
    const orphans = await tracerPidsIn(killedDir);
    victim.kill('SIGKILL');
    await until(async () => orphans.every((pid) => !processAlive(pid)), 'the tracer to die with its runner');
  },
);

test('several targets on one node are traced at once, each reported on its own', requirements, async () => {
  const pods = await Promise.all(
    ['web-0', 'web-1'].map(async (pod) => {
      const podUID = uuid();
      const id = newContainerID();
      await container(`/kubepods/besteffort/pod${podUID}/${id}`, ['/workloads/sleeper']);
      return {
        kind: 'container' as const,
        namespace: 'shop',
        pod,
        podUID,
        container: 'app',
        containerID: `containerd://${id}`,
      };
    }),
  );
  const gone = { ...pods[0]!, pod: 'web-2', podUID: uuid(), containerID: `containerd://${newContainerID()}` };
  const workDir = join(dir, 'multi');
  const manifest = await runTrace(
    {
      targets: [...pods, gone],
      tracer: { type: 'strace', strace: { mode: 'summary', maxOutputBytes: 1 << 20 } },
      durationSeconds: 2,
    },
    { workDir, graceMs: 5000 },
  );
  assert.equal(manifest.state, 'Succeeded', JSON.stringify(manifest));
  assert.deepEqual(
    manifest.targets.map((t) => [t.pod, t.state]),
    [
      ['web-0', 'Succeeded'],
      ['web-1', 'Succeeded'],
      ['web-2', 'Failed'],
    ],
  );
  assert.match(manifest.targets[2]!.message ?? '', /No cgroup mentions that pod UID/);
  assert.deepEqual(
    manifest.artifacts.map((a) => [a.name, a.pod]),
    [
      ['web-0.strace-summary.txt', 'web-0'],
      ['web-1.strace-summary.txt', 'web-1'],
    ],
  );
  for (const pod of ['web-0', 'web-1']) {
    assert.match(await readFile(join(workDir, `${pod}.strace-summary.txt`), 'utf8'), /nanosleep\s+\d+/);
  }
});

test(
  'a cgroup-filtered libbpf tool (execsnoop) sees the container’s execs and nothing else',
  requirements,
  async () => {
    const podUID = uuid();
    const id = newContainerID();
    await container(`/kubepods/burstable/pod${podUID}/${id}`, [
      '/bin/sh',
      '-c',
      'while :; do /bin/true; sleep 0.2; done',
    ]);
    // A decoy outside the container execs the same program.
    const decoy = spawn('/bin/sh', ['-c', 'while :; do /bin/echo decoy >/dev/null; sleep 0.2; done'], {
      stdio: 'ignore',
    });
    try {
      const workDir = join(dir, 'execsnoop');
      const manifest = await runTrace(
        {
          targets: [containerTarget('exec-0', podUID, id)],
          tracer: { type: 'tool', tool: { name: 'execsnoop' } },
          durationSeconds: 3,
          outputs: ['raw'],
        },
        { workDir, graceMs: 5000 },
      );
      assert.equal(manifest.state, 'Succeeded', JSON.stringify(manifest));
      const raw = await readFile(join(workDir, 'execsnoop.txt'), 'utf8');
      assert.match(raw, /\/bin\/true/);
      assert.doesNotMatch(raw, /decoy/);
    } finally {
      decoy.kill('SIGKILL');
    }
  },
);

test(
  'a whole-container perf profile includes processes that enter the container during the trace',
  requirements,
  async () => {
    const podUID = uuid();
    const id = newContainerID();
    const c = await container(`/kubepods/burstable/pod${podUID}/${id}`, ['/workloads/sleeper']);
    const workDir = join(dir, 'late-exec');
    const tracing = runTrace(
      {
        targets: [containerTarget('late-0', podUID, id)],
        tracer: { type: 'perf', perf: { mode: 'record', frequency: 99, callGraph: 'fp', kernelStacks: true } },
        durationSeconds: 5,
        outputs: ['folded', 'summary'],
      },
      { workDir, graceMs: 5000 },
    );
    // What `kubectl exec` does: a new process joins the container, not a descendant of anything already traced.
    await new Promise((r) => setTimeout(r, 1500));
    await run('runc', ['--root', join(dir, 'state'), 'exec', '-d', c.id, '/workloads/hot', '2']);
    const manifest = await tracing;
    assert.equal(manifest.state, 'Succeeded', JSON.stringify(manifest));
    assert.match(await readFile(join(workDir, 'stacks.folded'), 'utf8'), /^hot;.*tracejob_hot_spin \d+$/m);
  },
);

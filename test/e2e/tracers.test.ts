import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hotFunctions, useEnvironment, type Environment, type TraceJobObject } from '../support/e2e.ts';
import { needs } from '../support/requirements.ts';

// The other tracers through the whole path, at once against one cluster and operator: a custom bpftrace program,
// strace's summary, libbpf-tools offcputime and gdb backtraces; and an invalid TraceJob kubectl apply must refuse.
const requirements = needs('root', 'runc', 'cc', 'bpftrace', 'strace', 'libbpf-tools', 'gdb', 'btf');
let env: Environment;
const finished = new Map<string, Promise<TraceJobObject>>();
const scenarios = ['bpftrace-maps', 'strace-summary', 'offcputime', 'gdb'];

before(async () => {
  if (requirements.skip) return;
  env = await useEnvironment('tracers');
  await Promise.all([env.startWorkload('c-runner', 'c-runner'), env.startWorkload('c-sleeper', 'c-sleeper')]);
  for (const file of scenarios) {
    const applied = await env.applyFixture(`${file}.yaml`);
    assert.equal(applied.code, 0, applied.stderr);
    const name = /tracejob\.tracejob\.dev\/(\S+) created/.exec(applied.stdout)?.[1];
    assert.ok(name, applied.stdout);
    const done = env.waitForTraceJob(name);
    done.catch(() => undefined);
    finished.set(file, done);
  }
});

after(async () => {
  await env?.stop();
});

async function succeeded(file: string): Promise<TraceJobObject> {
  const job = await finished.get(file)!;
  assert.equal(
    job.status?.phase,
    'Succeeded',
    `${JSON.stringify(job.status)}\n${(await env.operatorLog()).slice(-3000)}`,
  );
  assert.ok((job.status?.targets?.[0]?.pids?.length ?? 0) >= 1, JSON.stringify(job.status?.targets));
  return job;
}

async function artifactText(job: TraceJobObject, name: string): Promise<string> {
  const artifact = job.status?.artifacts?.find((a) => a.name === name);
  assert.ok(artifact, `no ${name} among ${job.status?.artifacts?.map((a) => a.name).join(', ')}`);
  return (await env.download(artifact)).toString('utf8');
}

test('a bpftrace program prints its maps when the deadline stops it', requirements, async () => {
  const job = await succeeded('bpftrace-maps');
  const raw = await artifactText(job, 'bpftrace.txt');
  const pid = job.status!.targets![0]!.pids![0]!;
  assert.match(raw, new RegExp(`tracing \\d+ process\\(es\\), first ${pid}\\n`), raw);
  // Maps are printed only when bpftrace exits on SIGINT: their presence proves the deadline stopped it cleanly.
  const count = /@samples_by_comm\[hot\]: (\d+)/.exec(raw);
  assert.ok(count, raw);
  assert.ok(Number(count[1]) > 0);
});

test('strace summary counts the system calls of the target', requirements, async () => {
  const job = await succeeded('strace-summary');
  const summary = await artifactText(job, 'strace-summary.txt');
  // sleeper.c: nanosleep then getppid, 50 times a second; strace -c prints `syscall calls errors ...` rows.
  const calls = (name: string) => Number(new RegExp(`^${name}\\s+(\\d+)`, 'm').exec(summary)?.[1] ?? 0);
  assert.ok(calls('clock_nanosleep') + calls('nanosleep') >= 20, summary);
  assert.ok(calls('getppid') >= 20, summary);
  assert.match(summary, /^total\s+\d+/m);
});

test('offcputime: the off-CPU flame graph shows the target blocking in nanosleep', requirements, async () => {
  const job = await succeeded('offcputime');
  const folded = await artifactText(job, 'stacks.folded');
  // Folded as comm;user frames;kernel frames, in microseconds blocked.
  const sleeping = folded.split('\n').filter((l) => /^hot;.*clock_nanosleep;.*do_nanosleep;.*schedule \d+$/.test(l));
  assert.ok(sleeping.length > 0, folded.slice(0, 2000));
  const blockedMicros = sleeping.reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
  assert.ok(blockedMicros > 1_000_000, `blocked ${blockedMicros} us in 3 s`);
  assert.match(await artifactText(job, 'flamegraph.svg'), /<title>do_nanosleep \(/);
});

test("offcputime names the functions of the container's own binary", requirements, async () => {
  const job = await succeeded('offcputime');
  const folded = await artifactText(job, 'stacks.folded');
  // main exists only in the container's /build/hot. (tracejob_wait_for_work is not on these stacks: libc's
  // clock_nanosleep keeps no frame pointer, so the frame-pointer walk goes from it straight to main.)
  assert.match(folded, /^hot;(?:[^;\n]+;)*main;(?:[^;\n]+;)*do_nanosleep;/m, folded.slice(0, 2000));
  assert.doesNotMatch(folded, /^hot;(?:[^;\n]+;)*\[unknown\];(?:[^;\n]+;)*clock_nanosleep;/m, folded.slice(0, 2000));
});

test('gdb backtraces of every thread, folded into a profile', requirements, async () => {
  const job = await succeeded('gdb');
  const raw = await artifactText(job, 'gdb.txt');
  assert.match(
    raw,
    new RegExp(`#\\d+ .*${hotFunctions['c-runner']}`),
    `${raw.slice(0, 1000)}\n${JSON.stringify(job.status?.targets)}`,
  );
  assert.match(raw, /#\d+ .*main/);
  const folded = await artifactText(job, 'stacks.folded');
  assert.match(folded, /main;tracejob_outer;tracejob_hot_spin \d+/, folded);
  // Three samples asked for; each attach takes a while on a loaded machine, and the duration bounds them.
  const samples = job.status?.summary?.samples ?? 0;
  assert.ok(samples >= 2 && samples <= 3, JSON.stringify(job.status?.summary));
});

test('kubectl apply refuses a malformed TraceJob and names the field', requirements, async () => {
  const applied = await env.applyFixture('malformed.yaml');
  assert.notEqual(applied.code, 0, applied.stdout);
  assert.match(applied.stderr, /spec\.tracer\.perf\.frequency/, applied.stderr);
  assert.match(applied.stderr, /1000/, applied.stderr);
  assert.equal(await env.getTraceJob('malformed'), undefined);
});

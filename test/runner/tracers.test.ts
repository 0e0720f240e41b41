import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { parseResultManifest, type ResultManifest } from '../../src/runner/manifest.ts';
import { runTrace, type TraceRequest, type TraceRunOptions } from '../../src/runner/run.ts';
import { needs } from '../support/requirements.ts';
import { buildWorkloads, start } from './workloads.ts';

// Real tracers against real processes on this kernel. Durations are short; the assertions are about content.
const requirements = needs('root', 'cc', 'perf', 'bpftrace', 'strace', 'gdb', 'libbpf-tools', 'btf', 'trace-cmd');
let workloads: Awaited<ReturnType<typeof buildWorkloads>>;
let out: string;

before(async () => {
  if (requirements.skip) return;
  workloads = await buildWorkloads();
  out = await mkdtemp(join(tmpdir(), 'tracejob-tracers-'));
});
after(async () => {
  await workloads?.cleanup();
  if (out) await rm(out, { recursive: true, force: true });
});

let runs = 0;
async function trace(
  pid: number,
  tracer: TraceRequest['tracer'],
  extra: Partial<TraceRequest> = {},
  options: Partial<TraceRunOptions> = {},
): Promise<{ manifest: ResultManifest; dir: string }> {
  const dir = join(out, `run-${++runs}`);
  const manifest = await runTrace(
    { targets: [{ kind: 'pid', pid }], tracer, durationSeconds: 2, ...extra },
    { workDir: dir, graceMs: 5000, ...options },
  );
  return { manifest, dir };
}

function file(dir: string, manifest: ResultManifest, name: string): Promise<string> {
  assert.ok(
    manifest.artifacts.some((a) => a.name === name),
    `no ${name} among ${manifest.artifacts.map((a) => a.name).join(', ')}`,
  );
  return readFile(join(dir, name), 'utf8');
}

function top(manifest: ResultManifest): string[] {
  return (manifest.summary?.topFrames ?? []).map((f) => f.frame);
}

test(
  'perf record: the hot C function leads the profile; artifacts carry true sizes and hashes',
  requirements,
  async () => {
    const w = start([workloads.hot, '0']);
    try {
      const { manifest, dir } = await trace(
        w.pid,
        { type: 'perf', perf: { mode: 'record', frequency: 99, callGraph: 'fp', kernelStacks: true } },
        {
          outputs: ['flamegraph', 'folded', 'summary', 'raw', 'speedscope', 'pprof'],
        },
      );
      assert.equal(manifest.state, 'Succeeded', JSON.stringify(manifest));
      assert.equal(manifest.summary?.topFrames?.[0]?.frame, 'tracejob_hot_spin');
      assert.ok(manifest.summary!.topFrames![0]!.self > 0.5);
      assert.ok(manifest.summary!.samples >= 20, `only ${manifest.summary!.samples} samples`);
      assert.match(await file(dir, manifest, 'stacks.folded'), /^hot;.*main;.*tracejob_hot_spin \d+$/m);
      assert.match(await file(dir, manifest, 'flamegraph.svg'), /tracejob_hot_spin/);
      assert.match(await file(dir, manifest, 'perf.script.txt'), /tracejob_hot_spin/);
      for (const a of manifest.artifacts) {
        const bytes = await readFile(join(dir, a.name));
        assert.equal(a.sizeBytes, bytes.length, a.name);
        assert.equal(a.sha256, createHash('sha256').update(bytes).digest('hex'), a.name);
      }
      assert.deepEqual(parseResultManifest(await readFile(join(dir, 'manifest.json'), 'utf8')), manifest);
    } finally {
      await w.stop();
    }
  },
);

test('bpftrace profile (in-kernel aggregation): the hot C function leads the profile', requirements, async () => {
  const w = start([workloads.hot, '0']);
  try {
    const { manifest } = await trace(w.pid, {
      type: 'profile',
      profile: { frequency: 99, engine: 'bpftrace', kernelStacks: true },
    });
    assert.equal(manifest.state, 'Succeeded', JSON.stringify(manifest));
    assert.match(top(manifest)[0] ?? '', /^tracejob_hot_spin/);
    assert.ok(manifest.summary!.samples >= 20, `only ${manifest.summary!.samples} samples`);
  } finally {
    await w.stop();
  }
});

test('a bpftrace program sees its targets and prints its maps after SIGINT', requirements, async () => {
  const w = start([workloads.hot, '0']);
  try {
    const program =
      'BEGIN { printf("targets=%d first=%d\\n", $3, $1); }\n' +
      'profile:hz:49 /pid == $1/ { @ticks[comm] = count(); }\n';
    const { manifest, dir } = await trace(w.pid, { type: 'bpftrace', bpftrace: { program } }, { outputs: ['raw'] });
    assert.equal(manifest.state, 'Succeeded', JSON.stringify(manifest));
    const raw = await file(dir, manifest, 'bpftrace.txt');
    assert.match(raw, new RegExp(`targets=1 first=${w.pid}`));
    // The map is only printed when bpftrace exits on SIGINT: its presence proves the deadline stopped it cleanly.
    assert.match(raw, /@ticks\[hot\]: \d+/);
  } finally {
    await w.stop();
  }
});

test('perf record with DWARF unwinding profiles the hot function too', requirements, async () => {
  const w = start([workloads.hot, '0']);
  try {
    const { manifest } = await trace(w.pid, {
      type: 'perf',
      perf: { mode: 'record', frequency: 49, callGraph: 'dwarf', kernelStacks: false },
    });
    assert.equal(manifest.state, 'Succeeded', JSON.stringify(manifest));
    assert.equal(top(manifest)[0], 'tracejob_hot_spin');
    // Without kernel stacks, no kernel frame (perf marks them with [kernel.kallsyms]) is sampled.
    assert.ok(!top(manifest).some((f) => /irq|syscall|entry_SYSCALL/.test(f)), top(manifest).join(', '));
  } finally {
    await w.stop();
  }
});

test('a script shipped with bpftrace runs by name and prints its maps at the end', requirements, async () => {
  const w = start([workloads.sleeper]);
  try {
    const { manifest, dir } = await trace(
      w.pid,
      { type: 'bpftrace', bpftrace: { script: 'syscount' } },
      { outputs: ['raw'] },
    );
    assert.equal(manifest.state, 'Succeeded', JSON.stringify(manifest));
    const raw = await file(dir, manifest, 'bpftrace.txt');
    assert.match(raw, /Counting syscalls/);
    assert.match(raw, /Top 10 processes:\n(.*\n)*@process\[\S+\]: \d+/, JSON.stringify(manifest));
  } finally {
    await w.stop();
  }
});

test('a target that exits mid-trace still yields a symbolized profile and says so', requirements, async () => {
  const w = start([workloads.hot, '1']);
  try {
    const { manifest } = await trace(
      w.pid,
      { type: 'perf', perf: { mode: 'record', frequency: 99, callGraph: 'fp', kernelStacks: true } },
      { durationSeconds: 6 },
    );
    assert.equal(manifest.state, 'Succeeded', JSON.stringify(manifest));
    assert.equal(top(manifest)[0], 'tracejob_hot_spin');
    assert.match(manifest.targets[0]!.message ?? '', /exited before the end of the duration/);
  } finally {
    await w.stop();
  }
});

test('strace summary counts the system calls of the target', requirements, async () => {
  const w = start([workloads.sleeper]);
  try {
    const { manifest, dir } = await trace(w.pid, {
      type: 'strace',
      strace: { mode: 'summary', maxOutputBytes: 1 << 20 },
    });
    assert.equal(manifest.state, 'Succeeded', JSON.stringify(manifest));
    const table = await file(dir, manifest, 'strace-summary.txt');
    assert.match(table, /^(clock_nanosleep|nanosleep)\s+\d+/m);
    assert.match(table, /^getppid\s+\d+/m);
  } finally {
    await w.stop();
  }
});

test('strace full trace stops growing at maxOutputBytes', requirements, async () => {
  const w = start([workloads.sleeper]);
  try {
    const { manifest, dir } = await trace(
      w.pid,
      { type: 'strace', strace: { mode: 'full', maxOutputBytes: 1024, syscalls: ['getppid'] } },
      { outputs: ['raw'], durationSeconds: 10 },
    );
    assert.equal(manifest.state, 'Succeeded', JSON.stringify(manifest));
    const trace_ = await file(dir, manifest, 'strace.txt');
    assert.equal(Buffer.byteLength(trace_), 1024);
    assert.match(trace_, /getppid\(\)\s+= \d+ <[0-9.]+>/);
    assert.match(manifest.targets[0]!.message ?? '', /maxOutputBytes/);
  } finally {
    await w.stop();
  }
});

test(
  'offcputime (libbpf-tools) shows where the target blocks, user and kernel frames folded',
  requirements,
  async () => {
    const w = start([workloads.sleeper]);
    try {
      const { manifest, dir } = await trace(
        w.pid,
        { type: 'tool', tool: { name: 'offcputime' } },
        { outputs: ['folded', 'raw', 'summary'] },
      );
      assert.equal(manifest.state, 'Succeeded', JSON.stringify(manifest));
      assert.match(await file(dir, manifest, 'offcputime.txt'), /sleeper \(\d+\)/);
      const folded = await file(dir, manifest, 'stacks.folded');
      assert.match(folded, /^sleeper;.*main;.*clock_nanosleep;.*do_nanosleep.* \d+$/m);
    } finally {
      await w.stop();
    }
  },
);

test('gdb samples all-thread backtraces that fold into a profile', requirements, async () => {
  const w = start([workloads.hot, '0']);
  try {
    const { manifest, dir } = await trace(
      w.pid,
      { type: 'gdb', gdb: { samples: 2, interval: '200ms' } },
      { durationSeconds: 5, outputs: ['raw', 'folded', 'summary'] },
    );
    assert.equal(manifest.state, 'Succeeded', JSON.stringify(manifest));
    assert.match(await file(dir, manifest, 'gdb.txt'), /#\d+ .*tracejob_hot_spin/);
    assert.equal(manifest.summary?.samples, 2);
    assert.ok(top(manifest).includes('tracejob_hot_spin'));
  } finally {
    await w.stop();
  }
});

test('perf stat counts the target', requirements, async () => {
  const w = start([workloads.hot, '0']);
  try {
    const { manifest, dir } = await trace(
      w.pid,
      { type: 'perf', perf: { mode: 'stat', frequency: 99, callGraph: 'fp', kernelStacks: true } },
      { outputs: ['summary', 'raw'] },
    );
    assert.equal(manifest.state, 'Succeeded', JSON.stringify(manifest));
    const { counters } = JSON.parse(await file(dir, manifest, 'perf-stat.json')) as {
      counters: { event: string; value: number }[];
    };
    const taskClock = counters.find((c) => c.event === 'task-clock');
    assert.ok(taskClock && taskClock.value > 100, JSON.stringify(counters));
  } finally {
    await w.stop();
  }
});

test(
  'ftrace traces kernel functions of the target, or says exactly why this kernel refuses',
  requirements,
  async () => {
    const w = start([workloads.sleeper]);
    try {
      const { manifest, dir } = await trace(w.pid, {
        type: 'ftrace',
        ftrace: { tracer: 'function', functions: ['*nanosleep*'], maxOutputBytes: 1 << 20 },
      });
      if (manifest.state === 'Succeeded') {
        assert.match(await file(dir, manifest, 'ftrace.txt'), /sleeper-\d+.*nanosleep/);
      } else {
        // This build machine's kernel lists the function tracer but refuses to enable it (EPERM).
        assert.equal(manifest.reason, 'KernelUnsupported', JSON.stringify(manifest));
        assert.match(manifest.message ?? '', /function tracer/);
      }
    } finally {
      await w.stop();
    }
  },
);

test('a missing tracer fails up front, naming the binary and its package', requirements, async () => {
  const empty = await mkdtemp(join(tmpdir(), 'tracejob-nopath-'));
  try {
    const { manifest } = await trace(process.pid, { type: 'perf' }, {}, { kernel: { path: empty } });
    assert.equal(manifest.state, 'Failed');
    assert.equal(manifest.reason, 'TracerMissing');
    assert.match(manifest.message ?? '', /perf \(Debian package linux-perf\)/);
    assert.equal(manifest.targets[0]!.state, 'Failed');
  } finally {
    await rm(empty, { recursive: true, force: true });
  }
});

test(
  'a kernel without BTF fails CO-RE tools up front with a message that says what is missing',
  requirements,
  async () => {
    const { manifest } = await trace(
      process.pid,
      { type: 'tool', tool: { name: 'offcputime' } },
      {},
      { kernel: { btf: '/nonexistent/vmlinux' } },
    );
    assert.equal(manifest.state, 'Failed');
    assert.equal(manifest.reason, 'KernelUnsupported');
    assert.match(
      manifest.message ?? '',
      /kernel BTF is missing \(\/nonexistent\/vmlinux not readable\).*CONFIG_DEBUG_INFO_BTF/,
    );
  },
);

test('a process filter that matches nothing fails with what was found', requirements, async () => {
  const w = start([workloads.sleeper]);
  try {
    const { manifest } = await trace(w.pid, { type: 'strace' }, { process: { comm: 'java' } });
    assert.equal(manifest.reason, 'NoMatchingProcess');
    assert.match(manifest.message ?? '', /comm "sleeper"/);
  } finally {
    await w.stop();
  }
});

test(
  'tracejob trace writes artifacts and manifest.json into --out; bad options name the field',
  requirements,
  async () => {
    const cli = new URL('../../bin/tracejob.js', import.meta.url).pathname;
    const run = promisify(execFile);
    const w = start([workloads.hot, '0']);
    const dir = join(out, 'cli');
    try {
      const { stdout } = await run(process.execPath, [
        cli,
        'trace',
        '--pid',
        String(w.pid),
        '--tracer',
        'profile',
        '--engine',
        'perf',
        '--duration',
        '2s',
        '--out',
        dir,
      ]);
      assert.match(stdout, /^flamegraph\t\d+\t.*flamegraph\.svg$/m);
      assert.match(stdout, /tracejob_hot_spin/);
      const manifest = parseResultManifest(await readFile(join(dir, 'manifest.json'), 'utf8'));
      assert.equal(manifest.state, 'Succeeded');
      const failures: [string[], RegExp][] = [
        [['--duration', '2h'], /--duration: 2h is out of range/],
        [['--frequency', '5000'], /tracer\.profile\.frequency: .*1\.\.1000/],
        [['--outputs', 'flamegraph,pdf'], /--outputs: "pdf" is not accepted for profile/],
        [['--comm', 'a/b'], /process\.comm: /],
      ];
      for (const [args, message] of failures) {
        await assert.rejects(
          run(process.execPath, [cli, 'trace', '--pid', String(w.pid), '--tracer', 'profile', '--out', dir, ...args]),
          (err: { code: number; stderr: string }) => {
            assert.equal(err.code, 1);
            assert.match(err.stderr, message);
            return true;
          },
        );
      }
    } finally {
      await w.stop();
    }
  },
);

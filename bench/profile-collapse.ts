/**
 * Profile pipeline benchmark: `tracejob collapse perf` throughput against stackcollapse-perf.pl, peak RSS at two
 * input sizes, and flame graph render time for 100,000 unique stacks.
 *
 *   node bench/profile-collapse.ts                       # synthesises >= 256 MB from the recorded captures
 *   BENCH_PERF_SCRIPT=/tmp/big.perf node bench/...       # a `perf script` file you recorded
 *   FLAMEGRAPH_DIR=/path/to/FlameGraph node bench/...    # also time the Perl reference and compare outputs
 *   BENCH_SIZE_MB=512 node bench/...                     # size of the synthesised input
 *   BENCH_RUNS=5 node bench/...                          # runs of each side (medians are reported; default 3)
 *
 * CPU time is the fair comparison on a shared machine. Ours is reported twice: the whole process (Node's startup
 * and module loading included, as `time` counts the Perl script) and the collapse alone.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  closeSync,
  createWriteStream,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { openInput } from '../src/profile/cli-support.ts';
import { collapsePerfScript } from '../src/profile/collapse-perf.ts';
import { renderFlameGraph } from '../src/profile/flamegraph.ts';
import { writeFolded } from '../src/profile/folded.ts';

const self = new URL(import.meta.url).pathname;

/**
 * This process's own peak RSS. getrusage's maxrss is no good here: Linux carries it across exec, so a child would
 * report its parent's peak.
 */
function peakRssMB(): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

// Child mode: collapse one file and report wall time, CPU time and peak RSS of this process alone.
if (process.argv[2] === '--child') {
  const started = performance.now();
  const cpu = process.cpuUsage();
  // What `tracejob collapse perf FILE > OUT` does.
  const result = await collapsePerfScript(await openInput(process.argv[3]));
  const out = createWriteStream(process.argv[4] ?? '/dev/null');
  await writeFolded(result.stacks, out);
  out.end();
  await once(out, 'finish');
  const used = process.cpuUsage(cpu);
  console.log(
    JSON.stringify({
      wallMs: performance.now() - started,
      cpuMs: (used.user + used.system) / 1000,
      processCpuMs: (process.resourceUsage().userCPUTime + process.resourceUsage().systemCPUTime) / 1000,
      maxRssMB: peakRssMB(),
      stacks: result.stacks.size,
    }),
  );
  process.exit(0);
}

interface Run {
  wallMs: number;
  cpuMs: number;
  processCpuMs: number;
  maxRssMB: number;
  stacks: number;
}

const runs = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Each figure is the median over `runs` runs. */
function medianRun(all: Run[]): Run {
  return {
    wallMs: median(all.map((r) => r.wallMs)),
    cpuMs: median(all.map((r) => r.cpuMs)),
    processCpuMs: median(all.map((r) => r.processCpuMs)),
    maxRssMB: median(all.map((r) => r.maxRssMB)),
    stacks: all[0].stacks,
  };
}

function collapseInChild(file: string, output?: string): Run {
  const out = execFileSync(process.execPath, [self, '--child', file, ...(output ? [output] : [])], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  return JSON.parse(out) as Run;
}

const fixtures = new URL('../test/fixtures/profile/perf/', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'tracejob-bench-'));

/**
 * Repeats the recorded captures until the target size, renaming the processes of each repetition to one of 64
 * names: real frame lines, and a set of unique stacks that stops growing after 64 repetitions, so memory should not
 * grow with the size.
 */
async function synthesise(file: string, bytes: number): Promise<void> {
  const captures = ['c-fp', 'c-pidtid', 'multi-event', 'node-jit', 'system-wide', 'inlined'].map((name) =>
    readFileSync(`${fixtures}${name}.perf`, 'utf8'),
  );
  const out = createWriteStream(file);
  let written = 0;
  for (let round = 0; written < bytes; round++) {
    for (const capture of captures) {
      const text = capture.replace(/^(\S+)/gm, (comm: string) => `${comm}.${round % 64}`);
      if (!out.write(text)) await once(out, 'drain');
      written += Buffer.byteLength(text);
    }
  }
  out.end();
  await once(out, 'finish');
}

function head(file: string, bytes: number, target: string): void {
  // Cut at a sample boundary so the smaller input is well-formed too.
  const window = Buffer.alloc(1 << 22);
  const fd = openSync(file, 'r');
  const read = readSync(fd, window, 0, window.length, Math.max(0, bytes - window.length));
  closeSync(fd);
  const cut = Math.max(0, bytes - window.length) + window.subarray(0, read).lastIndexOf('\n\n') + 2;
  execFileSync('sh', ['-c', 'head -c "$1" "$2" > "$3"', 'sh', String(cut), file, target]);
}

function perlRun(script: string, file: string, output: string): { wallMs: number; cpuMs: number } {
  const started = performance.now();
  const result = spawnSync(
    'bash',
    ['-c', 'TIMEFORMAT="%U %S"; time perl "$1" "$2" > "$3"', 'bash', script, file, output],
    {
      encoding: 'utf8',
    },
  );
  const wallMs = performance.now() - started;
  if (result.status !== 0) throw new Error(`perl failed: ${result.stderr}`);
  const [user, sys] = result.stderr.trim().split('\n').pop()!.split(' ').map(Number);
  return { wallMs, cpuMs: (user + sys) * 1000 };
}

const mb = (bytes: number) => bytes / 1e6;
try {
  let input = process.env.BENCH_PERF_SCRIPT;
  if (input) {
    console.log(`input: ${input} (recorded)`);
  } else {
    input = join(work, 'synthetic.perf');
    const target = Number(process.env.BENCH_SIZE_MB ?? 256) * 1e6;
    await synthesise(input, target);
    console.log('input: synthesised from test/fixtures/profile/perf/*.perf, repeated with 64 process names');
  }
  const size = statSync(input).size;
  console.log(`size: ${mb(size).toFixed(1)} MB`);

  const ours = medianRun(Array.from({ length: runs }, () => collapseInChild(input, join(work, 'ours.folded'))));
  const rate = (ms: number) => (mb(size) / (ms / 1000)).toFixed(0);
  console.log(
    `tracejob collapse (median of ${runs}): ${(ours.wallMs / 1000).toFixed(2)} s wall, ` +
      `${(ours.processCpuMs / 1000).toFixed(2)} s CPU for the process (${rate(ours.processCpuMs)} MB/s), ` +
      `${(ours.cpuMs / 1000).toFixed(2)} s CPU in the collapse (${rate(ours.cpuMs)} MB/s), ` +
      `${rate(ours.wallMs)} MB/s wall, ${ours.stacks} unique stacks, peak RSS ${ours.maxRssMB.toFixed(0)} MB`,
  );

  const reference = process.env.FLAMEGRAPH_DIR ? join(process.env.FLAMEGRAPH_DIR, 'stackcollapse-perf.pl') : undefined;
  if (reference && existsSync(reference)) {
    const perlRuns = Array.from({ length: runs }, () => perlRun(reference, input, join(work, 'perl.folded')));
    const perl = { wallMs: median(perlRuns.map((r) => r.wallMs)), cpuMs: median(perlRuns.map((r) => r.cpuMs)) };
    const identical = readFileSync(join(work, 'perl.folded')).equals(readFileSync(join(work, 'ours.folded')));
    console.log(
      `stackcollapse-perf.pl (median of ${runs}): ${(perl.wallMs / 1000).toFixed(2)} s wall, ` +
        `${(perl.cpuMs / 1000).toFixed(2)} s CPU (${rate(perl.cpuMs)} MB/s), ${rate(perl.wallMs)} MB/s wall`,
    );
    console.log(
      `speed-up: ${(perl.cpuMs / ours.processCpuMs).toFixed(1)}x CPU (whole processes), ` +
        `${(perl.cpuMs / ours.cpuMs).toFixed(1)}x CPU (collapse alone), ${(perl.wallMs / ours.wallMs).toFixed(1)}x wall; ` +
        `outputs ${identical ? 'byte-identical' : 'DIFFER'}`,
    );
  } else {
    console.log('stackcollapse-perf.pl: not measured (set FLAMEGRAPH_DIR to a FlameGraph checkout)');
  }

  const quarter = join(work, 'quarter.perf');
  head(input, Math.floor(size / 4), quarter);
  const small = medianRun(Array.from({ length: runs }, () => collapseInChild(quarter)));
  console.log(
    `peak RSS: ${small.maxRssMB.toFixed(0)} MB at ${mb(statSync(quarter).size).toFixed(0)} MB (${small.stacks} stacks), ` +
      `${ours.maxRssMB.toFixed(0)} MB at ${mb(size).toFixed(0)} MB (${ours.stacks} stacks)`,
  );

  // 100,000 unique stacks from a deterministic generator: 2,000 function names, depth 5-40, branching like code.
  let seed = 42;
  const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const names = Array.from({ length: 2000 }, (_, i) => `module${i % 37}::function_${i}`);
  const stacks = new Map<string, number>();
  while (stacks.size < 100_000) {
    const depth = 5 + Math.floor(random() * 36);
    const frames = ['app'];
    for (let d = 0; d < depth; d++) frames.push(names[Math.floor(random() ** 2 * names.length)]);
    stacks.set(frames.join(';'), 1 + Math.floor(random() * 100));
  }
  let best = Infinity;
  let svgBytes = 0;
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    const svg = renderFlameGraph(stacks);
    best = Math.min(best, performance.now() - started);
    svgBytes = Buffer.byteLength(svg);
  }
  console.log(
    `flame graph of 100,000 unique stacks: ${best.toFixed(0)} ms (best of 3), SVG ${(svgBytes / 1e6).toFixed(1)} MB`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}

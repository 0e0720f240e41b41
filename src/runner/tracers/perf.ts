import { execFile } from 'node:child_process';
import { openSync } from 'node:fs';
import { constants, type FileHandle, open, readFile, writeFile } from 'node:fs/promises';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { PerfOptions } from '../../api/tracejob.ts';
import { JitMapMirror } from '../jitmaps.ts';
import { cgroupProcsBelow, describeProcess, type TargetProcess } from '../resolve.ts';
import { SymbolCapture } from '../symbols.ts';
import { supervise } from '../supervise.ts';
import { checkRun } from './outcome.ts';
import type { TracerAdapter, TracerContext, TracerOutcome } from './types.ts';

const perfPackage = { name: 'perf', package: 'linux-perf' };

/** Fields of `perf script` output, pinned so that the folding does not depend on perf's version defaults. */
const PERF_SCRIPT_FIELDS = 'comm,pid,tid,time,event,ip,sym,dso';

/**
 * `perf record` arguments. Given a cgroup (the whole container), perf samples every CPU but only that cgroup, which
 * also covers processes that enter the container during the trace (kubectl exec); otherwise the PIDs (and what they
 * fork).
 */
function perfRecordArgv(
  options: PerfOptions,
  target: { pids: number[] } | { cgroup: string },
  dataPath: string,
  control?: { ctl: string; ack: string },
): string[] {
  const events = options.events ?? ['cpu-clock'];
  // --buildid-mmap: the kernel records each mapping's build-id while the process lives, so perf script can find the
  // file in the build-id cache (see SymbolCapture) after the process and its mount namespace are gone.
  const argv = ['record', '-F', String(options.frequency), '--buildid-mmap', '-o', dataPath];
  // Events start disabled and are enabled through the control FIFO once perf is set up (see perfControl): with -a or
  // a cgroup filter, perf's start-up alone can take seconds under load, which would otherwise eat the duration.
  if (control) argv.push('-D', '-1', '--control', `fifo:${control.ctl},${control.ack}`);
  argv.push(...('pids' in target ? ['-p', target.pids.join(',')] : ['-a']));
  argv.push(...(options.callGraph === 'dwarf' ? ['--call-graph', 'dwarf'] : ['-g']));
  // Without kernel stacks, kernel-mode samples are not taken at all: no kernel address reaches the output.
  for (const event of events) argv.push('-e', options.kernelStacks ? event : `${event}:u`);
  // -G applies to the events before it, one cgroup per event.
  if ('cgroup' in target) argv.push('-G', events.map(() => target.cgroup.replace(/^\//, '')).join(','));
  return argv;
}

/** CPU profile by sampling (perf record -g), symbolized by perf script right after, JIT maps mirrored throughout. */
export function perfRecord(options: PerfOptions, wholeContainer = false): TracerAdapter {
  return {
    name: 'perf record',
    requirements: () => ({
      binaries: [perfPackage],
      perfEvents: true,
      privileges: ['perf'],
      kernelSymbols: options.kernelStacks,
    }),
    async run(ctx: TracerContext): Promise<TracerOutcome> {
      const perf = ctx.binaries.perf!;
      const dataPath = join(ctx.workDir, 'perf.data');
      const scriptPath = join(ctx.workDir, 'perf.script.txt');
      const pids = ctx.processes.map((p) => p.pid);
      const target = wholeContainer && ctx.cgroupV2Path !== undefined ? { cgroup: ctx.cgroupV2Path } : { pids };
      // perf keeps copies of the traced binaries in $HOME/.debug (what lets it symbolize after a target exits): in the
      // work directory they go away with the trace instead of filling the node's (or the user's) home.
      const env = { ...process.env, HOME: ctx.workDir };
      const jit = new JitMapMirror(ctx.processes);
      const symbols = new SymbolCapture({ workDir: ctx.workDir, perf, env });
      let processes = ctx.processes;
      const refresh = async () => {
        // In cgroup mode, processes that joined the container since (kubectl exec) get their symbols kept too.
        if ('cgroup' in target && ctx.cgroupV2Dir !== undefined)
          processes = await processesIn(ctx.cgroupV2Dir, processes);
        jit.processes = processes;
        await Promise.all([jit.refresh(), symbols.capture(processes)]);
      };
      await refresh();
      let refreshing: Promise<void> | undefined;
      const refresher = setInterval(() => {
        refreshing ??= refresh().finally(() => (refreshing = undefined));
      }, 1000);
      let notes: string[];
      let stoppedBy;
      const control = await perfControl(ctx.workDir);
      try {
        const recorded = await supervise({
          argv: [perf, ...perfRecordArgv(options, target, dataPath, control)],
          waitReady: control.waitReady,
          durationMs: ctx.durationMs,
          graceMs: ctx.graceMs,
          cwd: ctx.workDir,
          env,
          stderrPath: join(ctx.workDir, 'perf-record.log'),
          maxStderrBytes: 1 << 20,
          // With -a perf does not notice that the targets are gone.
          ...('cgroup' in target ? { watchPids: pids } : {}),
          signal: ctx.signal,
        });
        stoppedBy = recorded.stoppedBy;
        clearInterval(refresher);
        await refreshing;
        await jit.refresh();
        // perf record exits by itself, with status 0, when every target exits.
        notes = checkRun('perf record', recorded);
        if (recorded.stoppedBy === 'exited') notes.push('every target process exited before the end of the duration');
        const script = await supervise({
          argv: [perf, 'script', '-f', '-i', dataPath, '-F', PERF_SCRIPT_FIELDS],
          durationMs: Math.max(60_000, ctx.durationMs),
          graceMs: 5000,
          cwd: ctx.workDir,
          env,
          stdoutPath: scriptPath,
          stderrPath: join(ctx.workDir, 'perf-script.log'),
          maxStderrBytes: 1 << 20,
          // Not cancelled with the trace: a stopped trace (pod deleted) still gets its stacks symbolized.
        });
        notes.push(...checkRun('perf script', script));
        if (jit.mirrored > 0) notes.push(`used ${jit.mirrored} JIT symbol map(s) from the container`);
      } finally {
        clearInterval(refresher);
        await jit.cleanup();
      }
      return {
        files: [{ name: 'perf.script.txt', path: scriptPath, format: 'raw' }],
        stacks: { format: 'perf-script', path: scriptPath },
        notes,
        stoppedBy,
      };
    },
  };
}

/** Counters (perf stat) over the duration: CSV raw output and a JSON summary of the counts. */
export function perfStat(options: PerfOptions): TracerAdapter {
  return {
    name: 'perf stat',
    requirements: () => ({ binaries: [perfPackage], perfEvents: true, privileges: ['perf'] }),
    async run(ctx: TracerContext): Promise<TracerOutcome> {
      const rawPath = join(ctx.workDir, 'perf-stat.csv');
      const argv = [
        ctx.binaries.perf!,
        'stat',
        '-x',
        ',',
        '-o',
        rawPath,
        '-p',
        ctx.processes.map((p) => p.pid).join(','),
      ];
      for (const event of options.events ?? []) argv.push('-e', options.kernelStacks ? event : `${event}:u`);
      if (!options.events && !options.kernelStacks) argv.push('--all-user');
      const result = await supervise({
        argv,
        durationMs: ctx.durationMs,
        graceMs: ctx.graceMs,
        cwd: ctx.workDir,
        stderrPath: join(ctx.workDir, 'perf-stat.log'),
        maxStderrBytes: 1 << 20,
        signal: ctx.signal,
      });
      const notes = checkRun('perf stat', result);
      const summaryPath = join(ctx.workDir, 'perf-stat.json');
      const counters = parsePerfStatCsv(await readFile(rawPath, 'utf8').catch(() => ''));
      await writeFile(summaryPath, JSON.stringify({ counters }, null, 2));
      return {
        files: [
          { name: 'perf-stat.csv', path: rawPath, format: 'raw' },
          { name: 'perf-stat.json', path: summaryPath, format: 'summary' },
        ],
        notes,
        stoppedBy: result.stoppedBy,
      };
    },
  };
}

interface PerfCounter {
  event: string;
  value: number | null;
  unit: string;
  /** Share of the time the counter ran (below 100 when counters were multiplexed). */
  runningPercent: number | null;
}

/** Parses `perf stat -x ,` output: value,unit,event,run-time,percent,... ; `<not counted>` becomes null. */
function parsePerfStatCsv(text: string): PerfCounter[] {
  const counters: PerfCounter[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(',');
    if (fields.length < 3 || !fields[2]) continue;
    const value = Number(fields[0]);
    const percent = Number(fields[4]);
    counters.push({
      event: fields[2],
      value: fields[0] !== '' && Number.isFinite(value) ? value : null,
      unit: fields[1] ?? '',
      runningPercent: fields[4] !== undefined && fields[4] !== '' && Number.isFinite(percent) ? percent : null,
    });
  }
  return counters;
}

/**
 * FIFOs for `perf record --control`: `waitReady` asks perf to enable its events and resolves when perf acknowledges,
 * that is when it is recording. Both ends are opened read-write, so neither side blocks on the other's open, and the
 * `enable` written before perf opens its end waits in the pipe.
 */
async function perfControl(workDir: string): Promise<{
  ctl: string;
  ack: string;
  waitReady: (signal: AbortSignal) => Promise<void>;
}> {
  const ctl = join(workDir, 'perf-ctl.fifo');
  const ack = join(workDir, 'perf-ack.fifo');
  await promisify(execFile)('mkfifo', ['-m', '600', ctl, ack]);
  const waitReady = async (signal: AbortSignal) => {
    let ctlFile: FileHandle | undefined;
    let ackPipe: Socket | undefined;
    try {
      ctlFile = await open(ctl, constants.O_RDWR | constants.O_NONBLOCK);
      // A raw descriptor the socket owns and closes (opening a FIFO non-blocking does not wait).
      ackPipe = new Socket({
        fd: openSync(ack, constants.O_RDWR | constants.O_NONBLOCK),
        readable: true,
        writable: false,
      });
      const pipe = ackPipe;
      const acknowledged = new Promise<void>((resolve, reject) => {
        let seen = '';
        pipe.on('data', (chunk: Buffer) => {
          seen += chunk.toString('utf8');
          if (seen.includes('ack\n')) resolve();
        });
        pipe.once('error', reject);
        signal.addEventListener('abort', () => reject(new Error('perf ended before it recorded')), { once: true });
      });
      await ctlFile.write('enable\n');
      await acknowledged;
    } finally {
      ackPipe?.destroy();
      await ctlFile?.close();
    }
  };
  return { ctl, ack, waitReady };
}

/** The processes now in the container's cgroup: those known, plus newcomers described from /proc. */
async function processesIn(cgroupDir: string, known: TargetProcess[]): Promise<TargetProcess[]> {
  const byPid = new Map(known.map((p) => [p.pid, p]));
  for (const pid of await cgroupProcsBelow(cgroupDir)) {
    if (byPid.has(pid)) continue;
    const described = await describeProcess(pid);
    if (described) byPid.set(pid, described);
  }
  return [...byPid.values()];
}

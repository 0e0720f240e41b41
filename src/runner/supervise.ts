import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';

export type StopReason = 'exited' | 'deadline' | 'aborted' | 'output-cap' | 'targets-exited';

export interface SuperviseOptions {
  /** Program and arguments; never passed through a shell. */
  argv: string[];
  /** The tracer gets SIGINT this many milliseconds after it starts (how bpftrace, perf, strace end cleanly). */
  durationMs: number;
  /** After SIGINT, how long to wait before SIGKILL. */
  graceMs?: number;
  /**
   * Repeat SIGINT at this interval during the grace period, for tracers that can miss one: bpftrace 0.17 only notices
   * SIGINT when it interrupts its epoll_wait, so one that arrives while it attaches probes is lost for good.
   */
  repeatInterruptMs?: number;
  /** Where stdout and stderr go (files, truncated first); discarded when not given. */
  stdoutPath?: string;
  stderrPath?: string;
  /** Caps on what is kept of each stream; reaching the stdout cap also stops the tracer. */
  maxStdoutBytes?: number;
  maxStderrBytes?: number;
  /**
   * Output (stdout) that says the tracer is attached: the duration counts from there, not from the start, so a slow
   * start (bpftrace compiling under load) does not eat the trace. Without it within `startupTimeoutMs`, it is stopped.
   */
  readyPattern?: RegExp;
  /**
   * Resolves once the tracer records (perf acknowledging `enable` on its control FIFO): the duration counts from
   * there, as with `readyPattern`; a rejection stops the tracer.
   */
  waitReady?: (signal: AbortSignal) => Promise<void>;
  startupTimeoutMs?: number;
  /** Host PIDs whose exit ends the trace early (checked twice a second). */
  watchPids?: number[];
  /** Stop early when this returns true (checked twice a second): for tracers that write files we cap by size. */
  stopWhen?: () => boolean;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

export interface SuperviseResult {
  exitCode: number | null;
  /** Signal that ended the tracer, if any (SIGINT after a clean stop is normal). */
  exitSignal: NodeJS.Signals | null;
  stoppedBy: StopReason;
  /** The tracer ignored SIGINT for the whole grace period. */
  killed: boolean;
  stdoutBytes: number;
  stderrBytes: number;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  /** The last 2 KiB of stderr, for error messages. */
  stderrTail: string;
  elapsedMs: number;
}

const active = new Set<number>();

/**
 * Process groups of tracers still running; the runner's own SIGTERM handler calls `stopAllTracers` so that a
 * deleted tracer pod leaves nothing behind.
 */
export function activeTracerGroups(): number[] {
  return [...active];
}

/** Sends SIGINT to every running tracer group, then SIGKILL to those still there after `graceMs`. */
export async function stopAllTracers(graceMs = 2000): Promise<void> {
  const groups = [...active];
  for (const pgid of groups) signalGroup(pgid, 'SIGINT');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && groups.some((g) => groupAlive(g))) await sleep(50);
  for (const pgid of groups) signalGroup(pgid, 'SIGKILL');
}

/**
 * setpriv (util-linux) gives the tracer a parent-death signal, so even a SIGKILLed runner leaves no tracer running;
 * the tracer still gets its own process group so that SIGINT reaches the tools it forks (trace-cmd's readers).
 */
const launcher = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

/** Runs one tracer process, time-boxed: SIGINT at the deadline, SIGKILL after the grace period, output capped. */
export async function supervise(options: SuperviseOptions): Promise<SuperviseResult> {
  const graceMs = options.graceMs ?? 10_000;
  const [program, ...args] = options.argv;
  if (!program) throw new Error('supervise: empty argv');
  const argv = launcher ? [launcher, '--pdeathsig', 'KILL', '--', program, ...args] : [program, ...args];
  const started = Date.now();
  const stdout = await CappedSink.open(options.stdoutPath, options.maxStdoutBytes);
  const stderr = await CappedSink.open(options.stderrPath, options.maxStderrBytes);

  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const pgid = child.pid;
  if (pgid === undefined) {
    await Promise.all([stdout.close(), stderr.close()]);
    const err = await spawnError;
    throw new Error(`cannot start ${program}: ${err.message}`);
  }
  active.add(pgid);

  let stoppedBy: StopReason = 'exited';
  let killed = false;
  let stopping = false;
  let killTimer: NodeJS.Timeout | undefined;
  let repeatTimer: NodeJS.Timeout | undefined;
  const stop = (reason: StopReason) => {
    if (stopping) return;
    stopping = true;
    stoppedBy = reason;
    signalGroup(pgid, 'SIGINT');
    if (options.repeatInterruptMs !== undefined) {
      repeatTimer = setInterval(() => signalGroup(pgid, 'SIGINT'), options.repeatInterruptMs);
    }
    killTimer = setTimeout(() => {
      clearInterval(repeatTimer);
      killed = true;
      signalGroup(pgid, 'SIGKILL');
    }, graceMs);
  };

  let deadline: NodeJS.Timeout | undefined;
  let ready = options.readyPattern === undefined && options.waitReady === undefined;
  let seen = '';
  const startClock = () => {
    clearTimeout(deadline);
    deadline = setTimeout(() => stop('deadline'), options.durationMs);
  };
  const onStdout = (chunk: Buffer) => {
    if (ready) return;
    seen = (seen + chunk.toString('utf8')).slice(-4096);
    if (options.readyPattern!.test(seen)) {
      ready = true;
      startClock();
    }
  };
  const pumps = [
    pump(child.stdout, stdout, () => stop('output-cap'), onStdout),
    pump(child.stderr, stderr, () => undefined),
  ];
  const readiness = new AbortController();
  options
    .waitReady?.(readiness.signal)
    .then(() => {
      if (ready || stopping) return;
      ready = true;
      startClock();
    })
    .catch(() => {
      if (!readiness.signal.aborted) stop('deadline');
    });
  if (ready) startClock();
  else deadline = setTimeout(() => stop('deadline'), options.startupTimeoutMs ?? 120_000);
  const onAbort = () => stop('aborted');
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  const poll = setInterval(() => {
    if (options.watchPids?.length && options.watchPids.every((pid) => !processAlive(pid))) stop('targets-exited');
    else if (options.stopWhen?.()) stop('output-cap');
  }, 500);

  let result: { code: number | null; signal: NodeJS.Signals | null };
  try {
    result = await exited;
    // The group may hold children that outlived the leader (trace-cmd's per-CPU readers): they go too.
    if (groupAlive(pgid)) {
      signalGroup(pgid, 'SIGINT');
      const until = Date.now() + Math.min(graceMs, 2000);
      while (Date.now() < until && groupAlive(pgid)) await sleep(50);
      signalGroup(pgid, 'SIGKILL');
    }
  } finally {
    clearTimeout(deadline);
    clearTimeout(killTimer);
    clearInterval(repeatTimer);
    clearInterval(poll);
    readiness.abort();
    options.signal?.removeEventListener('abort', onAbort);
    active.delete(pgid);
  }
  await Promise.all(pumps);
  await Promise.all([stdout.close(), stderr.close()]);
  return {
    exitCode: result.code,
    exitSignal: result.signal,
    stoppedBy,
    killed,
    stdoutBytes: stdout.written,
    stderrBytes: stderr.written,
    stdoutTruncated: stdout.truncated,
    stderrTruncated: stderr.truncated,
    stderrTail: stderr.tail,
    elapsedMs: Date.now() - started,
  };
}

class CappedSink {
  written = 0;
  truncated = false;
  tail = '';
  private readonly file: FileHandle | undefined;
  private readonly cap: number;

  private constructor(file: FileHandle | undefined, cap: number) {
    this.file = file;
    this.cap = cap;
  }

  static async open(path: string | undefined, cap = Number.MAX_SAFE_INTEGER): Promise<CappedSink> {
    return new CappedSink(path === undefined ? undefined : await open(path, 'w', 0o600), cap);
  }

  /** Returns false once the cap is reached. */
  async write(chunk: Buffer): Promise<boolean> {
    this.tail = (this.tail + chunk.toString('utf8')).slice(-2048);
    const room = this.cap - this.written;
    const part = chunk.length <= room ? chunk : chunk.subarray(0, Math.max(0, room));
    if (part.length > 0) {
      await this.file?.write(part);
      this.written += part.length;
    }
    if (part.length < chunk.length) this.truncated = true;
    return !this.truncated;
  }

  async close(): Promise<void> {
    await this.file?.close();
  }
}

async function pump(
  stream: Readable,
  sink: CappedSink,
  onCap: () => void,
  onChunk?: (chunk: Buffer) => void,
): Promise<void> {
  for await (const chunk of stream) {
    onChunk?.(chunk as Buffer);
    if (!(await sink.write(chunk as Buffer))) onCap();
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** True while the PID exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // A zombie still answers kill(0); its state letter in /proc/PID/stat is Z.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

import { execFile } from 'node:child_process';
import { access, constants, mkdir, readdir, readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { RunnerError } from './errors.ts';

/** What a tracer needs from the node, checked before anything starts so that a failure says what is missing. */
export interface Requirements {
  binaries: { name: string; package: string }[];
  /** CO-RE programs (libbpf-tools) need the kernel's BTF; bpftrace uses it for kfuncs and struct types. */
  btf?: boolean;
  /** Sampling and tracepoints through perf_event_open. */
  perfEvents?: boolean;
  /** Capabilities the tracer needs: loading BPF programs, perf events of other processes, ptrace attach. */
  privileges?: Privilege[];
  /** Kernel symbols: without them kernel frames are bare addresses (a warning, not a failure). */
  kernelSymbols?: boolean;
  tracefs?: boolean;
}

export type Privilege = 'bpf' | 'perf' | 'ptrace';

const CAP_SYS_PTRACE = 19n;
const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/** Which privileges a CapEff mask (from /proc/self/status) grants; CAP_SYS_ADMIN stands in for the newer split ones. */
function missingPrivileges(capEff: bigint, wanted: readonly Privilege[]): string[] {
  const has = (cap: bigint) => (capEff & (1n << cap)) !== 0n;
  const admin = has(CAP_SYS_ADMIN);
  const missing: string[] = [];
  for (const privilege of wanted) {
    if (privilege === 'bpf' && !admin && !(has(CAP_BPF) && has(CAP_PERFMON))) {
      missing.push('CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN) to load BPF programs');
    }
    if (privilege === 'perf' && !admin && !has(CAP_PERFMON)) {
      missing.push('CAP_PERFMON (or CAP_SYS_ADMIN) to sample other processes');
    }
    if (privilege === 'ptrace' && !has(CAP_SYS_PTRACE)) missing.push('CAP_SYS_PTRACE to attach to other processes');
  }
  return missing;
}

/** Where the checks look; tests point them elsewhere to prove the failure paths. */
export interface KernelPaths {
  btf?: string;
  procSysKernel?: string;
  mountinfo?: string;
  /** /proc/self/status, for the effective capabilities. */
  procSelfStatus?: string;
  /** Search path for tracer binaries; defaults to PATH plus the sbin directories Debian installs tracers into. */
  path?: string;
}

export interface PrereqReport {
  /** Absolute paths of the binaries, by name. */
  binaries: Record<string, string>;
  warnings: string[];
  /** Mount point of tracefs, when it was required. */
  tracefs?: string;
}

function searchPath(paths: KernelPaths = {}): string[] {
  const fromEnv = (paths.path ?? process.env.PATH ?? '').split(delimiter).filter(Boolean);
  const extra = paths.path === undefined ? ['/usr/local/sbin', '/usr/sbin', '/sbin'] : [];
  return [...new Set([...fromEnv, ...extra])];
}

/** Whether `path` exists and grants `mode`; any error (ENOENT, EACCES...) is a no. */
export function accessible(path: string, mode: number = constants.F_OK): Promise<boolean> {
  return access(path, mode).then(
    () => true,
    () => false,
  );
}

export async function findBinary(name: string, paths: KernelPaths = {}): Promise<string | undefined> {
  for (const dir of searchPath(paths)) {
    const candidate = join(dir, name);
    if (await accessible(candidate, constants.X_OK)) return candidate;
  }
  return undefined;
}

/**
 * Checks everything up front and throws one RunnerError listing every fatal problem: TracerMissing when a binary is
 * absent, KernelUnsupported for kernel features. Mounts tracefs (as trace-cmd itself would) when it is required
 * and not mounted.
 */
export async function checkPrerequisites(req: Requirements, paths: KernelPaths = {}): Promise<PrereqReport> {
  const report: PrereqReport = { binaries: {}, warnings: [] };
  const missing: string[] = [];
  for (const { name, package: pkg } of req.binaries) {
    const found = await findBinary(name, paths);
    if (found) report.binaries[name] = found;
    else missing.push(`${name} (Debian package ${pkg})`);
  }
  if (missing.length > 0) {
    throw new RunnerError(
      'TracerMissing',
      `not installed in the tracer image: ${missing.join(', ')}; searched ${searchPath(paths).join(':')}`,
    );
  }

  if (req.privileges?.length) {
    const status = await readFile(paths.procSelfStatus ?? '/proc/self/status', 'utf8').catch(() => '');
    const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
    const missingCaps = capEff === undefined ? [] : missingPrivileges(BigInt(`0x${capEff}`), req.privileges);
    if (missingCaps.length > 0) {
      throw new RunnerError(
        'InsufficientPrivileges',
        `the runner lacks ${missingCaps.join('; ')}: the tracer pod must run privileged or with these capabilities`,
      );
    }
  }

  const problems: string[] = [];
  const procSys = paths.procSysKernel ?? '/proc/sys/kernel';
  const isRoot = process.getuid?.() === 0;
  if (req.btf) {
    const btf = paths.btf ?? '/sys/kernel/btf/vmlinux';
    if (!(await accessible(btf, constants.R_OK))) {
      problems.push(
        `kernel BTF is missing (${btf} not readable): this kernel was built without CONFIG_DEBUG_INFO_BTF, which ` +
          'CO-RE tools and bpftrace kfuncs need; use a kernel with BTF, or the perf or strace tracers',
      );
    }
  }
  if (req.perfEvents) {
    const paranoid = Number((await readFile(join(procSys, 'perf_event_paranoid'), 'utf8').catch(() => '')).trim());
    if (!isRoot && Number.isFinite(paranoid) && paranoid > 1) {
      problems.push(
        `perf_event_paranoid is ${paranoid} and the runner is not root: sampling other processes needs ` +
          'CAP_PERFMON/CAP_SYS_ADMIN (a privileged tracer pod) or kernel.perf_event_paranoid <= 1',
      );
    }
  }
  if (req.kernelSymbols) {
    const kptr = Number((await readFile(join(procSys, 'kptr_restrict'), 'utf8').catch(() => '')).trim());
    if (kptr === 2 || (kptr === 1 && !isRoot)) {
      report.warnings.push(
        `kernel.kptr_restrict is ${kptr}: kernel addresses are hidden, so kernel frames will show as unknown; ` +
          'set kernel.kptr_restrict=0 (or 1 with CAP_SYSLOG) for symbolized kernel stacks',
      );
    }
  }
  if (req.tracefs) {
    const found = await ensureTracefs(paths.mountinfo ?? '/proc/self/mountinfo');
    if (found) report.tracefs = found;
    else {
      problems.push(
        'tracefs is not mounted and could not be mounted at /sys/kernel/tracing (the tracer pod needs /sys ' +
          'writable, i.e. privileged, or the node must mount tracefs)',
      );
    }
  }
  if (problems.length > 0) throw new RunnerError('KernelUnsupported', problems.join('; '));
  return report;
}

async function tracefsMount(mountinfo: string): Promise<string | undefined> {
  const text = await readFile(mountinfo, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    if (line.slice(dash + 3).split(' ')[0] === 'tracefs') return line.slice(0, dash).split(' ')[4];
  }
  return undefined;
}

async function ensureTracefs(mountinfo: string): Promise<string | undefined> {
  const mounted = await tracefsMount(mountinfo);
  if (mounted) return mounted;
  if (mountinfo !== '/proc/self/mountinfo' || process.getuid?.() !== 0) return undefined;
  const target = '/sys/kernel/tracing';
  try {
    await mkdir(target, { recursive: true });
    if ((await readdir(target)).length === 0) await promisify(execFile)('mount', ['-t', 'tracefs', 'nodev', target]);
  } catch {
    return undefined;
  }
  return tracefsMount(mountinfo);
}

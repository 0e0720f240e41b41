import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Things a test may need from the machine. Under CI=true a missing one fails the test file; elsewhere it skips loudly. */
export type Requirement =
  | 'root'
  | 'runc'
  | 'perf'
  | 'bpftrace'
  | 'libbpf-tools'
  | 'strace'
  | 'trace-cmd'
  | 'gdb'
  | 'btf'
  | 'go'
  | 'chromium'
  | 'cc';

const probes: Record<Requirement, () => boolean> = {
  root: () => process.getuid?.() === 0,
  runc: () => onPath('runc'),
  perf: () => onPath('perf'),
  bpftrace: () => onPath('bpftrace'),
  'libbpf-tools': () => existsSync('/usr/sbin/offcputime') || onPath('offcputime'),
  strace: () => onPath('strace'),
  'trace-cmd': () => onPath('trace-cmd'),
  gdb: () => onPath('gdb'),
  btf: () => existsSync('/sys/kernel/btf/vmlinux'),
  go: () => onPath('go'),
  chromium: () => onPath('chromium'),
  cc: () => onPath('cc'),
};

function onPath(binary: string): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', binary], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const cache = new Map<Requirement, boolean>();

export function missing(...requirements: Requirement[]): Requirement[] {
  return requirements.filter((r) => {
    if (!cache.has(r)) cache.set(r, probes[r]());
    return !cache.get(r);
  });
}

/**
 * Test options for `test(name, needs('root', 'runc'), fn)`. Under CI=true nothing may skip silently: a missing
 * requirement throws, which fails the file and names what `.ci/run` failed to install.
 */
export function needs(...requirements: Requirement[]): { skip?: string } {
  const absent = missing(...requirements);
  if (absent.length === 0) return {};
  const reason = `needs ${absent.join(', ')}`;
  if (process.env.CI === 'true') throw new Error(`CI=true but this test ${reason}; .ci/run must provide it`);
  console.warn(`SKIP (${reason})`);
  return { skip: reason };
}

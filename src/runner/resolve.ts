import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  cgroupDirectory,
  containerCgroupOf,
  normalizePodUid,
  parseCgroupMounts,
  parseContainerId,
  parseNsPids,
  parseProcCgroup,
  type CgroupLine,
} from './cgroup.ts';

/** One process of a target, as the runner and `tracejob resolve` report it. */
export interface TargetProcess {
  /** PID in the runner's PID namespace (the host's, in a hostPID tracer pod). */
  pid: number;
  /** PID inside the container's own PID namespace (last NSpid entry). */
  nsPid: number;
  comm: string;
  /** Executable path as the kernel reports it, relative to the process's own root; empty if unreadable. */
  exe: string;
  cmdline: string[];
}

export interface ResolvedTarget {
  processes: TargetProcess[];
  /** The container's cgroup paths (one per hierarchy, deduplicated), as they appear in /proc/PID/cgroup. */
  cgroupPaths: string[];
  /** The container's cgroup directory in the v2 (unified) hierarchy, if it has one. */
  cgroupV2Dir?: string;
  /** Its path in the v2 hierarchy (as /proc/PID/cgroup shows it): what `perf record -G` takes. */
  cgroupV2Path?: string;
  /** Inode number of that directory: the value of bpftrace's `cgroup` builtin for these processes. */
  cgroupId?: number;
}

export interface ResolveOptions {
  /** procfs root; tests point it at a fabricated tree. */
  proc?: string;
}

/** Upper bound on the command-line bytes kept per process: enough to match on, bounded for the filter and the manifest. */
const maxCmdlineBytes = 4096;

export async function resolveContainer(
  target: { podUID: string; containerID: string },
  options: ResolveOptions = {},
): Promise<ResolvedTarget> {
  const proc = options.proc ?? '/proc';
  const podUid = normalizePodUid(target.podUID);
  const container = parseContainerId(target.containerID);
  const mounts = parseCgroupMounts(await readFile(join(proc, 'self/mountinfo'), 'utf8'));

  const pids = new Set<number>();
  const containerLines = new Map<string, CgroupLine>();
  const podCgroupsSeen = new Set<string>();
  const podUidUnderscored = podUid.replaceAll('-', '_');
  let scanned = 0;
  for (const pid of await listPids(proc)) {
    const text = await readIfPresent(join(proc, String(pid), 'cgroup'));
    if (text === undefined) continue;
    scanned++;
    for (const line of parseProcCgroup(text)) {
      const own = containerCgroupOf(line.path, podUid, container);
      if (own !== undefined) {
        pids.add(pid);
        containerLines.set(`${line.hierarchyId}:${own}`, { ...line, path: own });
      } else if (line.path.includes(podUid) || line.path.includes(podUidUnderscored)) {
        podCgroupsSeen.add(line.path);
      }
    }
  }
  if (pids.size === 0) {
    const seen = [...podCgroupsSeen].slice(0, 8);
    throw new Error(
      `no process of container ${target.containerID} in pod ${target.podUID} found among ${scanned} processes. ` +
        (seen.length
          ? `Cgroups of that pod that exist: ${seen.join(', ')} (is the container ID current? it changes on restart)`
          : `No cgroup mentions that pod UID: is the pod on this node and running?`),
    );
  }

  // Processes that the /proc scan raced with, and those in sub-cgroups the container created itself.
  let cgroupV2Dir: string | undefined;
  let cgroupV2Path: string | undefined;
  for (const line of containerLines.values()) {
    const dir = cgroupDirectory(line, mounts);
    if (dir === undefined) continue;
    if (line.hierarchyId === 0) {
      cgroupV2Dir = dir;
      cgroupV2Path = line.path;
    }
    for (const pid of await cgroupProcsBelow(dir)) pids.add(pid);
  }

  const processes = await describeAll([...pids], proc);
  if (processes.length === 0)
    throw new Error(`every process of container ${target.containerID} exited while it was being resolved`);
  const cgroupId =
    cgroupV2Dir === undefined
      ? undefined
      : await stat(cgroupV2Dir).then(
          (s) => s.ino,
          () => undefined,
        );
  return {
    processes,
    cgroupPaths: [...new Set([...containerLines.values()].map((l) => l.path))],
    ...(cgroupV2Dir !== undefined && cgroupId !== undefined ? { cgroupV2Dir, cgroupV2Path, cgroupId } : {}),
  };
}

/** A plain PID given on the command line (`tracejob trace --pid`): that process alone. */
export async function resolvePid(pid: number, options: ResolveOptions = {}): Promise<ResolvedTarget> {
  const proc = options.proc ?? '/proc';
  const described = await describeProcess(pid, proc);
  if (!described) throw new Error(`pid: no process ${pid} (${join(proc, String(pid))} does not exist)`);
  return { processes: [described], cgroupPaths: [] };
}

export async function describeProcess(pid: number, proc = '/proc'): Promise<TargetProcess | undefined> {
  const dir = join(proc, String(pid));
  const [status, comm, cmdline] = await Promise.all([
    readIfPresent(join(dir, 'status')),
    readIfPresent(join(dir, 'comm')),
    readIfPresent(join(dir, 'cmdline'), maxCmdlineBytes),
  ]);
  if (status === undefined || comm === undefined) return undefined;
  const nsPids = parseNsPids(status);
  const exe = await readlink(join(dir, 'exe')).catch(() => '');
  return {
    pid,
    nsPid: nsPids.at(-1) ?? pid,
    comm: comm.replace(/\n$/, ''),
    exe: exe.replace(/ \(deleted\)$/, ''),
    cmdline: (cmdline ?? '').split('\0').filter((arg, i, all) => arg !== '' || i < all.length - 1),
  };
}

async function describeAll(pids: number[], proc: string): Promise<TargetProcess[]> {
  const described = await Promise.all(pids.sort((a, b) => a - b).map((pid) => describeProcess(pid, proc)));
  return described.filter((p): p is TargetProcess => p !== undefined);
}

async function listPids(proc: string): Promise<number[]> {
  return (await readdir(proc)).filter((name) => /^[0-9]+$/.test(name)).map(Number);
}

/** PIDs in a cgroup and all of its descendants (containers may create sub-cgroups, e.g. systemd inside a pod). */
export async function cgroupProcsBelow(dir: string, depth = 0): Promise<number[]> {
  const pids: number[] = [];
  const procs = await readIfPresent(join(dir, 'cgroup.procs'));
  if (procs === undefined) return pids;
  for (const line of procs.split('\n')) if (/^[0-9]+$/.test(line)) pids.push(Number(line));
  if (depth >= 16) return pids;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (entry.isDirectory()) pids.push(...(await cgroupProcsBelow(join(dir, entry.name), depth + 1)));
  }
  return pids;
}

async function readIfPresent(path: string, maxBytes?: number): Promise<string | undefined> {
  try {
    const text = await readFile(path, 'utf8');
    return maxBytes === undefined ? text : text.slice(0, maxBytes);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Processes exit between readdir and read: ENOENT/ESRCH. Kernel threads have no exe: handled by callers.
    if (code === 'ENOENT' || code === 'ESRCH' || code === 'EACCES' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

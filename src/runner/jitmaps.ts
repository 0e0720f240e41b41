import { chown, copyFile, rm, stat } from 'node:fs/promises';
import type { TargetProcess } from './resolve.ts';

/**
 * JIT runtimes (Node --perf-basic-prof, Java perf-map-agent, Python -X perf) write /tmp/perf-<pid>.map inside the
 * container: under the container's PID and in its mount namespace. perf looks for /tmp/perf-<host pid>.map in its
 * own namespace and ignores maps not owned by root. This copies each map across (via /proc/PID/root), owned by root,
 * and keeps refreshing it while the trace runs so that a target that exits still leaves its symbols behind.
 */
export class JitMapMirror {
  private readonly copied = new Set<string>();
  /** Replaced as processes join the target (cgroup mode). */
  processes: readonly TargetProcess[];
  private readonly proc: string;

  constructor(processes: readonly TargetProcess[], proc = '/proc') {
    this.processes = processes;
    this.proc = proc;
  }

  /** Copies every map that exists now; returns how many were copied. */
  async refresh(): Promise<number> {
    let count = 0;
    for (const p of this.processes) {
      const source = `${this.proc}/${p.pid}/root/tmp/perf-${p.nsPid}.map`;
      const target = `/tmp/perf-${p.pid}.map`;
      const [from, to] = await Promise.all([stat(source).catch(() => undefined), stat(target).catch(() => undefined)]);
      if (!from) continue;
      // Same file: the target shares our mount namespace and PID namespace (tracejob trace --pid on the host).
      // perf script runs with -f, which accepts that file whoever owns it.
      if (to && to.dev === from.dev && to.ino === from.ino) continue;
      if (to && !this.copied.has(target)) continue; // someone else's file: never overwrite it
      try {
        await copyFile(source, target);
        await chown(target, 0, 0);
        this.copied.add(target);
        count++;
      } catch {
        // The target exited between stat and copy: the last copy stays.
      }
    }
    return count;
  }

  get mirrored(): number {
    return this.copied.size;
  }

  /** Removes the copies this mirror made. */
  async cleanup(): Promise<void> {
    await Promise.all([...this.copied].map((path) => rm(path, { force: true })));
    this.copied.clear();
  }
}

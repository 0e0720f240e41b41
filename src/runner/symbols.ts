import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TargetProcess } from './resolve.ts';
import { parseMaps } from './usersyms.ts';

/**
 * perf symbolizes when `perf script` runs, after recording. A container's binaries and libraries exist only in its
 * mount namespace, which disappears with its last process: a target that exits mid-trace would leave bare addresses.
 * This copies every executable mapping of the targets out through /proc/PID/root while they run and adds it to perf's
 * build-id cache ($HOME/.debug of the perf processes), where perf script finds it by build-id.
 */
export class SymbolCapture {
  private readonly seen = new Set<string>();
  private readonly dir: string;
  private readonly perf: string;
  private readonly env: NodeJS.ProcessEnv;
  private selfMountNs: string | undefined;
  captured = 0;

  constructor(options: { workDir: string; perf: string; env: NodeJS.ProcessEnv }) {
    this.dir = join(options.workDir, '.symbols');
    this.perf = options.perf;
    this.env = options.env;
  }

  /** Caches the executable mappings of these processes not cached yet; processes that vanish are skipped. */
  async capture(processes: readonly TargetProcess[]): Promise<void> {
    this.selfMountNs ??= await readlink('/proc/self/ns/mnt').catch(() => '');
    const copies: string[] = [];
    await mkdir(this.dir, { recursive: true });
    for (const p of processes) {
      // perf reaches files in its own mount namespace after the process is gone: nothing to do.
      const ns = await readlink(`/proc/${p.pid}/ns/mnt`).catch(() => undefined);
      if (ns === undefined || ns === this.selfMountNs) continue;
      const maps = await readFile(`/proc/${p.pid}/maps`, 'utf8').catch(() => '');
      for (const mapping of executableMappings(maps)) {
        const key = `${ns}:${mapping.device}:${mapping.inode}`;
        if (this.seen.has(key)) continue;
        this.seen.add(key);
        const copy = join(this.dir, String(this.seen.size));
        try {
          await copyFile(`/proc/${p.pid}/root${mapping.path}`, copy);
          copies.push(copy);
        } catch {
          // Gone already, or not a regular file: perf will show [unknown] for it, as it would have anyway.
        }
      }
    }
    if (copies.length === 0) return;
    // One invocation per batch; perf stores each under its build-id and ignores ones it already has.
    await promisify(execFile)(this.perf, ['buildid-cache', '-a', copies.join(',')], { env: this.env }).catch(
      () => undefined,
    );
    this.captured += copies.length;
    await Promise.all(copies.map((c) => rm(c, { force: true })));
  }
}

export interface ExecutableMapping {
  path: string;
  device: string;
  inode: string;
}

/** File-backed executable mappings of /proc/PID/maps, one per file. */
export function executableMappings(maps: string): ExecutableMapping[] {
  const found = new Map<string, ExecutableMapping>();
  for (const { perms, path, device, inode } of parseMaps(maps)) {
    if (!perms.includes('x') || path.startsWith('/memfd:') || path.startsWith('/dev/')) continue;
    found.set(`${device}:${inode}`, { path, device, inode });
  }
  return [...found.values()];
}

/**
 * Pure functions that decide whether a cgroup path belongs to a given Kubernetes container. They see only text
 * (the contents of /proc/PID/cgroup, cgroup directory names), so every layout the kubelet and container runtimes
 * produce is covered by table tests without a cluster.
 *
 * Layouts recognised (v1 and v2 alike, since only the path differs by mount point):
 *   cgroupfs driver  .../kubepods[/besteffort|/burstable]/pod<uid>/<id>
 *   systemd driver   .../kubepods[-besteffort|-burstable]-pod<uid_with_underscores>.slice/<runtime>-<id>.scope
 *   mixed drivers    .../kubepods-burstable-pod<uid>.slice:cri-containerd:<id>   (one segment, colon separated)
 *   nested kubelets  .../kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod<uid>.slice/... and /docker/<node>/kubepods/...
 * A CRI-O pod's conmon monitor lives in crio-conmon-<id>.scope beside the container's crio-<id>.scope and is never
 * part of the container.
 */

export type Runtime = 'containerd' | 'cri-o' | 'docker';

export interface ContainerId {
  runtime: Runtime;
  id: string;
}

const runtimePrefixes: Record<string, Runtime> = {
  'containerd://': 'containerd',
  'cri-o://': 'cri-o',
  'docker://': 'docker',
};

/** Scope and colon-form names each runtime gives a container's cgroup under the systemd driver. */
const scopePrefixes: Record<Runtime, string[]> = {
  containerd: ['cri-containerd'],
  'cri-o': ['crio'],
  docker: ['docker', 'cri-docker'],
};

const containerIdPattern = /^[0-9a-f]{64}$/;

/** Parses `containerd://<64 hex>` (also `cri-o://`, `docker://`), the form of a pod's status.containerStatuses[].containerID. */
export function parseContainerId(value: string): ContainerId {
  const prefix = Object.keys(runtimePrefixes).find((p) => value.startsWith(p));
  if (!prefix) {
    throw new Error(
      `containerID: expected <runtime>://<id> with runtime containerd, cri-o or docker (as in a pod's ` +
        `status.containerStatuses[].containerID), got ${JSON.stringify(value.slice(0, 80))}`,
    );
  }
  const id = value.slice(prefix.length);
  if (!containerIdPattern.test(id)) {
    throw new Error(
      `containerID: the container ID after ${prefix} must be 64 lower-case hex digits, got ${JSON.stringify(id.slice(0, 80))}`,
    );
  }
  return { runtime: runtimePrefixes[prefix]!, id };
}

/**
 * Pod UIDs appear with dashes in cgroupfs paths and with underscores in systemd slice names; users may paste either.
 * Static pods carry a 32-hex config hash instead of a UUID, so dashes are optional.
 */
const podUidPattern = /^[0-9a-fA-F]{8}([-_]?[0-9a-fA-F]{4}){3}[-_]?[0-9a-fA-F]{12}$/;

export function normalizePodUid(value: string): string {
  if (!podUidPattern.test(value)) {
    throw new Error(
      `podUID: expected a pod UID such as 6f1c5e0a-3b7d-4c2e-9a8b-0d1e2f3a4b5c (dashes or underscores), got ` +
        JSON.stringify(value.slice(0, 80)),
    );
  }
  return value.toLowerCase().replaceAll('_', '-');
}

function podSegmentMatches(segment: string, podUid: string): boolean {
  const dashed = podUid;
  const underscored = podUid.replaceAll('-', '_');
  if (segment === `pod${dashed}` || segment === `pod${underscored}`) return true;
  // systemd: kubepods-pod<uid>.slice, kubepods-burstable-pod<uid>.slice, kubelet-kubepods-besteffort-pod<uid>.slice
  const m = /-pod([0-9a-f_-]+)\.slice$/.exec(segment);
  return m !== null && (m[1] === underscored || m[1] === dashed);
}

function containerSegmentMatches(segment: string, container: ContainerId): boolean {
  if (segment === container.id) return true;
  return scopePrefixes[container.runtime].some((p) => segment === `${p}-${container.id}.scope`);
}

/** `kubepods-burstable-pod<uid>.slice:cri-containerd:<id>`: a systemd-style name used as a plain cgroupfs directory. */
function colonSegmentMatches(segment: string, podUid: string, container: ContainerId): boolean {
  const parts = segment.split(':');
  if (parts.length !== 3) return false;
  const [slice, runtime, id] = parts as [string, string, string];
  return id === container.id && scopePrefixes[container.runtime].includes(runtime) && podSegmentMatches(slice, podUid);
}

/**
 * If `path` (as in /proc/PID/cgroup, starting with `/`) lies in or below the cgroup of the given container, returns the
 * container's own cgroup path (the prefix ending at the container's segment); otherwise undefined.
 * `podUid` must already be normalized.
 */
export function containerCgroupOf(path: string, podUid: string, container: ContainerId): string | undefined {
  const segments = path.split('/');
  let podSeen = false;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    if (segment.startsWith('crio-conmon-')) return undefined;
    if (colonSegmentMatches(segment, podUid, container) || (podSeen && containerSegmentMatches(segment, container))) {
      return segments.slice(0, i + 1).join('/');
    }
    if (podSegmentMatches(segment, podUid)) podSeen = true;
  }
  return undefined;
}

export interface CgroupLine {
  /** Hierarchy ID: 0 for the v2 unified hierarchy. */
  hierarchyId: number;
  /** v1 controllers (`cpu,cpuacct`, `name=systemd`); empty for v2. */
  controllers: string[];
  path: string;
}

/** Parses /proc/PID/cgroup. Paths may contain colons, so only the first two are separators. */
export function parseProcCgroup(text: string): CgroupLine[] {
  const lines: CgroupLine[] = [];
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const hierarchyId = Number(line.slice(0, first));
    if (!Number.isInteger(hierarchyId)) continue;
    const controllers = line.slice(first + 1, second);
    lines.push({ hierarchyId, controllers: controllers ? controllers.split(',') : [], path: line.slice(second + 1) });
  }
  return lines;
}

/** The `NSpid:` line of /proc/PID/status: the PID in each namespace from the reader's outwards-in, last = innermost. */
export function parseNsPids(statusText: string): number[] {
  const m = /^NSpid:\s*(.*)$/m.exec(statusText);
  if (!m) return [];
  return m[1]!
    .trim()
    .split(/\s+/)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}

export interface CgroupMount {
  /** Mount point as seen by this process. */
  mountPoint: string;
  /** The cgroup path that is mounted there (`/` normally; deeper inside a container with a cgroup namespace). */
  root: string;
  version: 1 | 2;
  /** v1 controllers and `name=` options this hierarchy carries; empty for v2. */
  controllers: string[];
}

/** Cgroup mounts from /proc/self/mountinfo (fields: id parent major:minor root mountpoint opts [optional...] - fstype source superopts). */
export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const left = line.slice(0, dash).split(' ');
    const [fsType, , superOptions = ''] = line.slice(dash + 3).split(' ');
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    mounts.push({
      root: unescape(left[3] ?? '/'),
      mountPoint: unescape(left[4] ?? ''),
      version: fsType === 'cgroup2' ? 2 : 1,
      controllers: fsType === 'cgroup2' ? [] : superOptions.split(',').filter((o) => o !== 'rw' && o !== 'ro'),
    });
  }
  return mounts;
}

/** Where the cgroup of a /proc/PID/cgroup line lives in this process's filesystem, if its hierarchy is mounted. */
export function cgroupDirectory(line: CgroupLine, mounts: CgroupMount[]): string | undefined {
  const mount =
    line.hierarchyId === 0
      ? mounts.find((m) => m.version === 2)
      : // v1 hierarchies carry disjoint controller sets, so sharing the line's controllers identifies the mount.
        mounts.find(
          (m) =>
            m.version === 1 && line.controllers.length > 0 && line.controllers.every((c) => m.controllers.includes(c)),
        );
  // Inside a private cgroup namespace (a privileged pod on cgroup v2) other cgroups show as /../../x: they are not
  // below any mount this process has, so only the /proc scan can see their processes.
  if (!mount || line.path.split('/').includes('..')) return undefined;
  const relative =
    mount.root === '/' ? line.path : line.path.startsWith(mount.root) ? line.path.slice(mount.root.length) : undefined;
  if (relative === undefined) return undefined;
  return `${mount.mountPoint.replace(/\/$/, '')}${relative.startsWith('/') ? '' : '/'}${relative}`.replace(/\/$/, '');
}

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, mkdir, readdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { constants as osConstants } from 'node:os';

const run = promisify(execFile);

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';
export type CgroupDriver = 'cgroupfs' | 'systemd';

/** A 64-hex container ID, the form containerd reports behind `containerd://`. */
export function newContainerID(): string {
  return randomBytes(32).toString('hex');
}

/**
 * The pod-level cgroup the kubelet creates: `/kubepods[/<qos>]/pod<uid>` for cgroupfs, the nested slices for systemd.
 * Guaranteed pods sit directly under kubepods, as in the real kubelet. Without systemd running here the slice names
 * are plain directories, which is what a tracer resolving cgroups on a systemd node sees.
 */
export function podCgroupPath(options: { qosClass: QosClass; podUID: string; driver: CgroupDriver }): string {
  const { qosClass, podUID, driver } = options;
  if (!/^[0-9a-zA-Z-]+$/.test(podUID)) throw new Error(`podUID ${JSON.stringify(podUID)} is not a UID`);
  const qos = qosClass === 'Guaranteed' ? undefined : qosClass.toLowerCase();
  if (driver === 'cgroupfs') return qos ? `/kubepods/${qos}/pod${podUID}` : `/kubepods/pod${podUID}`;
  const uid = podUID.replaceAll('-', '_');
  return qos
    ? `/kubepods.slice/kubepods-${qos}.slice/kubepods-${qos}-pod${uid}.slice`
    : `/kubepods.slice/kubepods-pod${uid}.slice`;
}

/** The container's cgroup below its pod's: `<pod>/<id>` (cgroupfs) or `<pod>/cri-containerd-<id>.scope` (systemd). */
export function cgroupPathFor(options: {
  qosClass: QosClass;
  podUID: string;
  containerID: string;
  driver: CgroupDriver;
}): string {
  if (!/^[0-9a-f]{64}$/.test(options.containerID)) {
    throw new Error(`containerID ${JSON.stringify(options.containerID)} is not 64 lower-case hex digits`);
  }
  const pod = podCgroupPath(options);
  return options.driver === 'cgroupfs'
    ? `${pod}/${options.containerID}`
    : `${pod}/cri-containerd-${options.containerID}.scope`;
}

/** Mount points of the cgroup hierarchies (v1 controllers, and the v2 tree wherever it is mounted). */
export async function cgroupHierarchies(): Promise<string[]> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  const roots: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!right) continue;
    const fstype = right.split(' ')[0];
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    roots.push(unescapeMountPath(left.split(' ')[4]));
  }
  return [...new Set(roots)];
}

function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * Creates a cgroup directory in every hierarchy. A concurrent `removeCgroup` of an empty parent by another
 * development cluster can make mkdir fail with ENOENT half-way; trying again wins because a non-empty parent
 * cannot be removed.
 */
export async function ensureCgroup(path: string): Promise<void> {
  for (const root of await cgroupHierarchies()) {
    for (let attempt = 0; ; attempt++) {
      try {
        await mkdir(join(root, path), { recursive: true });
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw err;
      }
    }
  }
}

/**
 * Removes a cgroup directory from every hierarchy; with `removeEmptyAncestors` also each ancestor left empty, so a
 * finished development cluster leaves no `/kubepods` behind. Ancestors another instance still uses stay.
 */
export async function removeCgroup(path: string, options: { removeEmptyAncestors?: boolean } = {}): Promise<void> {
  const segments = path.split('/').filter(Boolean);
  const levels = options.removeEmptyAncestors ? segments.length : 1;
  const failures: string[] = [];
  for (const root of await cgroupHierarchies()) {
    for (let depth = segments.length; depth > segments.length - levels; depth--) {
      const dir = join(root, ...segments.slice(0, depth));
      const leaf = depth === segments.length;
      const code = await rmdirRetrying(dir, leaf ? 20 : 0);
      if (code === undefined || code === 'ENOENT') continue;
      if (leaf) failures.push(`${dir}: ${code}`);
      break;
    }
  }
  if (failures.length) throw new Error(`cgroup still has processes or children: ${failures.join(', ')}`);
}

/** rmdir, retried while the cgroup is busy (killed processes may take a moment to leave); the error code if it fails. */
async function rmdirRetrying(dir: string, retries: number): Promise<string | undefined> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rmdir(dir);
      return undefined;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
      if ((code !== 'EBUSY' && code !== 'ENOTEMPTY') || attempt >= retries) return code;
      await sleep(50);
    }
  }
}

export interface BindMount {
  source: string;
  destination: string;
  readOnly?: boolean;
}

export interface ContainerResources {
  memoryLimitBytes?: number;
  /** cgroup v1 cpu.shares, from the CPU request as the kubelet computes it. */
  cpuShares?: number;
  /** CFS quota per 100ms period, from the CPU limit. */
  cpuQuotaMicros?: number;
  pidsLimit?: number;
}

export interface RunContainerOptions {
  /** runc container ID; the 64-hex container ID works and keeps `runc list` readable. */
  id: string;
  /** `runc --root`: runc's own state, so that several development clusters never see each other's containers. */
  stateRoot: string;
  /** A directory of this container's own (config.json, overlay of the image stand-in); removed by `delete()`. */
  bundleDir: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  hostname?: string;
  cgroupsPath: string;
  hostPID?: boolean;
  /** All capabilities, no seccomp or masked paths, every device, /sys and /dev of the host writable. */
  privileged?: boolean;
  readOnlyRootFilesystem?: boolean;
  /** securityContext.capabilities: names with or without `CAP_`, or `ALL`; applied after the privileged choice. */
  capabilities?: { add?: string[]; drop?: string[] };
  user?: { uid: number; gid: number };
  mounts?: BindMount[];
  resources?: ContainerResources;
  oomScoreAdj?: number;
  /** Files the container's stdout/stderr are appended to; when omitted, `stdout`/`stderr` of the handle are pipes. */
  stdoutPath?: string;
  stderrPath?: string;
}

export interface ContainerExit {
  exitCode: number;
  /** Set when the exit code is 128+N for a signal N, the way containerd reports a killed process. */
  signal: NodeJS.Signals | null;
  /** The kernel's OOM killer killed a process of this container's memory cgroup. */
  oomKilled: boolean;
}

export interface RunningContainer {
  id: string;
  /** The container's init process as the host sees it. */
  hostPid: number;
  stdout: Readable | null;
  stderr: Readable | null;
  wait(): Promise<ContainerExit>;
  /** Signals the init process, or with `all` every process in the container's cgroup (needed with hostPID). */
  kill(signal: NodeJS.Signals, options?: { all?: boolean }): Promise<void>;
  /** Kills whatever is left, removes the container, its cgroup and its bundle directory. Idempotent. */
  delete(): Promise<void>;
}

/** A container that failed before its process started, e.g. a missing executable. */
export class ContainerStartError extends Error {
  override name = 'ContainerStartError';
}

const defaultCapabilities = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

// Indexed by capability number, up to CAP_CHECKPOINT_RESTORE (40).
const allCapabilities = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

const maskedPaths = [
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
];
const readonlyPaths = ['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

function capabilityName(name: string): string {
  const upper = name.toUpperCase();
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (upper !== 'ALL' && !allCapabilities.includes(full)) {
    throw new Error(`capability ${JSON.stringify(name)} is not a Linux capability (e.g. SYS_ADMIN, BPF, PERFMON)`);
  }
  return upper === 'ALL' ? 'ALL' : full;
}

function adjustCapabilities(
  base: string[],
  change: { add?: string[]; drop?: string[] } | undefined,
  available: string[],
): string[] {
  const drop = (change?.drop ?? []).map(capabilityName);
  const add = (change?.add ?? []).map(capabilityName);
  let result = drop.includes('ALL') ? [] : base.filter((c) => !drop.includes(c));
  result = add.includes('ALL') ? [...available] : [...new Set([...result, ...add])];
  // runc cannot grant what it does not hold itself; asking for it fails the start with EPERM.
  return result.filter((c) => available.includes(c));
}

/**
 * The OCI runtime config for a container whose image is the host's root filesystem (mounted at `rootfs` by the
 * caller). Pure, so the namespace/mount/capability choices are table-tested without runc.
 */
export function ociConfig(
  options: Omit<RunContainerOptions, 'id' | 'stateRoot' | 'bundleDir'> & {
    rootfs: string;
    /** The capabilities runc itself holds (CapBnd); privileged means all of these, as with a real runtime. */
    boundingSet?: bigint;
    /** Host device nodes a privileged container gets, from `hostDevices()`. */
    devices?: HostDevice[];
  },
) {
  const privileged = options.privileged ?? false;
  const boundingSet = options.boundingSet ?? (1n << BigInt(allCapabilities.length)) - 1n;
  const available = allCapabilities.filter((_, bit) => (boundingSet >> BigInt(bit)) & 1n);
  const capabilities = adjustCapabilities(
    privileged ? available : defaultCapabilities,
    options.capabilities,
    available,
  );
  const env = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOSTNAME: options.hostname ?? 'container',
    ...options.env,
  };
  const namespaces = [
    ...(options.hostPID ? [] : [{ type: 'pid' }]),
    { type: 'mount' },
    { type: 'ipc' },
    { type: 'uts' },
  ];
  const mounts = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/sys',
      type: 'sysfs',
      source: 'sysfs',
      options: ['nosuid', 'noexec', 'nodev', privileged ? 'rw' : 'ro'],
    },
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', privileged ? 'rw' : 'ro'],
    },
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] },
    ...(options.mounts ?? []).map((m) => ({
      destination: m.destination,
      type: 'bind',
      source: m.source,
      options: ['rbind', 'rprivate', m.readOnly ? 'ro' : 'rw'],
    })),
  ];
  const resources = options.resources ?? {};
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: options.user ?? { uid: 0, gid: 0 },
      args: options.args,
      env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      cwd: options.cwd ?? '/',
      capabilities: {
        bounding: capabilities,
        effective: capabilities,
        permitted: capabilities,
        ...(privileged ? { inheritable: capabilities } : {}),
      },
      noNewPrivileges: false,
      ...(options.oomScoreAdj === undefined ? {} : { oomScoreAdj: options.oomScoreAdj }),
    },
    root: { path: options.rootfs, readonly: options.readOnlyRootFilesystem ?? false },
    hostname: options.hostname ?? 'container',
    mounts,
    linux: {
      cgroupsPath: options.cgroupsPath,
      namespaces,
      ...(privileged && options.devices ? { devices: options.devices } : {}),
      resources: {
        devices: privileged ? [{ allow: true, access: 'rwm' }] : [{ allow: false, access: 'rwm' }],
        ...(resources.memoryLimitBytes === undefined ? {} : { memory: { limit: resources.memoryLimitBytes } }),
        ...(resources.cpuShares === undefined && resources.cpuQuotaMicros === undefined
          ? {}
          : {
              cpu: {
                ...(resources.cpuShares === undefined ? {} : { shares: resources.cpuShares }),
                ...(resources.cpuQuotaMicros === undefined ? {} : { quota: resources.cpuQuotaMicros, period: 100000 }),
              },
            }),
        ...(resources.pidsLimit === undefined ? {} : { pids: { limit: resources.pidsLimit } }),
      },
      ...(privileged ? {} : { maskedPaths, readonlyPaths }),
    },
  };
}

/**
 * Runs a container with `runc run --keep` in the foreground of a child process: runc stays the container's parent, so
 * its exit status is the container's (128+N after signal N), and `--keep` leaves the stopped container's cgroup in
 * place long enough to read whether the OOM killer struck. The image stand-in is an overlay whose lower layer is the
 * host's root filesystem and whose upper layer is a private tmpfs: the host stays untouched, mount points for volumes
 * can be created, and writes vanish with the container like a real container's writable layer.
 */
export async function runContainer(options: RunContainerOptions): Promise<RunningContainer> {
  const { id, stateRoot, bundleDir } = options;
  if (!/^[\w+.-]+$/.test(id)) throw new Error(`container id ${JSON.stringify(id)} may hold only [A-Za-z0-9_+.-]`);
  await mkdir(stateRoot, { recursive: true });
  await mkdir(bundleDir, { recursive: true });
  const layerDir = join(bundleDir, 'layer');
  const rootfs = join(bundleDir, 'rootfs');
  await mkdir(layerDir, { recursive: true });
  await mkdir(rootfs, { recursive: true });
  const boundingSet = await ownBoundingSet();
  const devices = options.privileged ? await hostDevices() : undefined;

  const cleanupMounts = async () => {
    for (const dir of [rootfs, layerDir]) {
      await run('umount', ['--lazy', dir]).catch(() => undefined);
    }
    await rm(bundleDir, { recursive: true, force: true });
  };

  let child: ChildProcess;
  const pidFile = join(bundleDir, 'pid');
  const logFile = join(bundleDir, 'runc.log');
  const outputs: Awaited<ReturnType<typeof open>>[] = [];
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'mode=755', 'tmpfs', layerDir]);
    await mkdir(join(layerDir, 'upper'));
    await mkdir(join(layerDir, 'work'));
    await run('mount', [
      '-t',
      'overlay',
      '-o',
      `lowerdir=/,upperdir=${join(layerDir, 'upper')},workdir=${join(layerDir, 'work')}`,
      'overlay',
      rootfs,
    ]);
    await writeFile(
      join(bundleDir, 'config.json'),
      JSON.stringify(ociConfig({ ...options, rootfs, boundingSet, devices })),
    );
    for (const path of [options.stdoutPath, options.stderrPath]) {
      if (path) outputs.push(await open(path, 'a'));
    }
    const stdoutFd = options.stdoutPath ? outputs[0].fd : 'pipe';
    const stderrFd = options.stderrPath ? outputs[outputs.length - 1].fd : 'pipe';
    // Own session: a Ctrl-C meant for the development cluster must not reach containers before graceful shutdown.
    child = spawn(
      'runc',
      [
        '--root',
        stateRoot,
        '--log',
        logFile,
        '--log-format',
        'json',
        'run',
        '--keep',
        '--bundle',
        bundleDir,
        '--pid-file',
        pidFile,
        id,
      ],
      { stdio: ['ignore', stdoutFd, stderrFd], detached: true },
    );
  } catch (err) {
    for (const handle of outputs) await handle.close();
    await cleanupMounts();
    throw err;
  }
  for (const handle of outputs) await handle.close();
  // Node discards unread child output once the child exits, and a short-lived container may exit before the caller
  // attaches to it: copying into our own streams right away keeps every byte (backpressure pauses runc meanwhile).
  const stdout = child.stdout ? child.stdout.pipe(new PassThrough()) : null;
  const stderr = child.stderr ? child.stderr.pipe(new PassThrough()) : null;

  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? osConstants.signals[signal] : 0)));
    child.once('error', () => resolve(255));
  });
  let runcExit: number | undefined;
  void exited.then((code) => (runcExit = code));

  const readPid = async () => {
    const text = (await readFile(pidFile, 'utf8').catch(() => '')).trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  };
  let hostPid: number | undefined;
  while (hostPid === undefined) {
    const exitedBefore = runcExit !== undefined;
    hostPid = await readPid();
    if (hostPid !== undefined) break;
    // runc writes the PID file before it waits for the process, so one that already exited left it behind too.
    if (exitedBefore) {
      const message = await runcError(logFile);
      await runc(stateRoot, ['delete', '--force', id]).catch(() => undefined);
      await cleanupMounts();
      throw new ContainerStartError(message || `runc exited with ${runcExit} before the container started`);
    } else await sleep(5);
  }

  let exit: Promise<ContainerExit> | undefined;
  const wait = () =>
    (exit ??= exited.then(async (exitCode) => {
      const signalNumber = exitCode > 128 ? exitCode - 128 : 0;
      const signal =
        (Object.entries(osConstants.signals).find(([, n]) => n === signalNumber)?.[0] as NodeJS.Signals | undefined) ??
        null;
      return { exitCode, signal, oomKilled: await oomKilled(options.cgroupsPath) };
    }));
  let deleted: Promise<void> | undefined;
  return {
    id,
    hostPid,
    stdout,
    stderr,
    wait,
    async kill(signal, killOptions = {}) {
      if (runcExit !== undefined) return;
      await runc(stateRoot, ['kill', ...(killOptions.all ? ['--all'] : []), id, signal]).catch((err: unknown) => {
        // The container may exit between the check and the kill.
        if (runcExit === undefined && !/not running|does not exist|container not running/.test(String(err))) throw err;
      });
    },
    delete: () =>
      (deleted ??= (async () => {
        await runc(stateRoot, ['delete', '--force', id]).catch(() => undefined);
        await wait();
        // After the foreground runc exits, its own --keep copy of the container is what remains.
        await runc(stateRoot, ['delete', '--force', id]).catch(() => undefined);
        await cleanupMounts();
      })()),
  };
}

export interface HostDevice {
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode: number;
  uid: number;
  gid: number;
}

/**
 * The host's device nodes, which a privileged container gets as its own nodes in a private /dev (what Docker and
 * containerd do): binding the host's /dev instead would let runc create mount points such as /dev/termination-log
 * on the host.
 */
async function hostDevices(): Promise<HostDevice[]> {
  const skip = new Set(['/dev/pts', '/dev/shm', '/dev/mqueue', '/dev/console', '/dev/ptmx']);
  const devices: HostDevice[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const path = join(dir, entry.name);
      if (skip.has(path)) continue;
      if (entry.isDirectory()) await walk(path);
      else if (entry.isCharacterDevice() || entry.isBlockDevice()) {
        const info = await stat(path, { bigint: true }).catch(() => undefined);
        if (!info) continue;
        const rdev = info.rdev;
        devices.push({
          path,
          type: entry.isCharacterDevice() ? 'c' : 'b',
          major: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)),
          minor: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)),
          fileMode: Number(info.mode & 0o7777n),
          uid: Number(info.uid),
          gid: Number(info.gid),
        });
      }
    }
  };
  await walk('/dev');
  return devices;
}

/** This process's capability bounding set, which also bounds what runc can grant. */
export async function ownBoundingSet(): Promise<bigint> {
  const status = await readFile('/proc/self/status', 'utf8');
  const match = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status);
  if (!match) throw new Error('no CapBnd line in /proc/self/status');
  return BigInt(`0x${match[1]}`);
}

async function runc(stateRoot: string, args: string[]): Promise<string> {
  const { stdout } = await run('runc', ['--root', stateRoot, ...args]);
  return stdout;
}

async function runcError(logFile: string): Promise<string> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  const messages = text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      try {
        const entry = JSON.parse(line) as { level?: string; msg?: string };
        return entry.level === 'error' || entry.level === 'fatal' ? (entry.msg ?? '') : '';
      } catch {
        return line;
      }
    })
    .filter(Boolean);
  return messages.at(-1) ?? '';
}

async function oomKilled(cgroupsPath: string): Promise<boolean> {
  const text = await readFile(join('/sys/fs/cgroup/memory', cgroupsPath, 'memory.oom_control'), 'utf8').catch(() => '');
  const match = /^oom_kill (\d+)$/m.exec(text);
  if (match) return Number(match[1]) > 0;
  const events = await readFile(join('/sys/fs/cgroup', cgroupsPath, 'memory.events'), 'utf8').catch(() => '');
  const v2 = /^oom_kill (\d+)$/m.exec(events);
  return v2 ? Number(v2[1]) > 0 : false;
}

/** Containers runc still knows under a state root, e.g. left by a development cluster that was killed. */
export async function listContainers(stateRoot: string): Promise<string[]> {
  const stdout = await runc(stateRoot, ['list', '--format', 'json']).catch(() => 'null');
  const list = JSON.parse(stdout || 'null') as { id: string }[] | null;
  return (list ?? []).map((c) => c.id);
}

/** Force-deletes a container by id (for leftovers from an earlier run; live ones use `RunningContainer.delete`). */
export async function forceDelete(stateRoot: string, id: string): Promise<void> {
  await runc(stateRoot, ['delete', '--force', id]).catch(() => undefined);
}

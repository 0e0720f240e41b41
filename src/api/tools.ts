/**
 * The libbpf-tools a TraceJob may run by name (`spec.tracer.tool`), and the options an author may pass to each.
 * Options the runner owns (which process or cgroup, how long) are deliberately absent so that a TraceJob can never widen
 * a tool beyond its targets. The runner builds argv from `parseToolArgs(...).argv`, never from the raw strings.
 */

/** How the runner confines the tool to the target: `--pid=<host pid>` or `--cgroup=<container cgroup path>`. */
export type ToolTarget = 'pid' | 'cgroup';

type OptionValue = 'flag' | 'uint' | 'ports' | 'disk';

interface ToolOption {
  short?: string;
  long: string;
  value: OptionValue;
  /** Upper bound for `uint` values. */
  max?: number;
}

export interface ToolInfo {
  description: string;
  target: ToolTarget;
  /** `stacks`: prints one stack per entry, which the profile pipeline folds; `text`: a report stored as is. */
  output: 'stacks' | 'text';
  /** The tool reads kernel stacks or kernel-only state that a TracePolicy without allowKernelStacks withholds. */
  kernelStacks: boolean;
  options: readonly ToolOption[];
  /** The one positional argument the tool requires, if any. */
  positional?: { name: string; pattern: RegExp; accepted: string };
}

const flag = (long: string, short?: string): ToolOption => ({ long, short, value: 'flag' });
const uint = (long: string, max: number, short?: string): ToolOption => ({ long, short, value: 'uint', max });

export const TOOLS = {
  offcputime: {
    description: 'off-CPU time by stack: where threads block',
    target: 'pid',
    output: 'stacks',
    kernelStacks: true,
    options: [
      flag('user-threads-only', 'u'),
      flag('kernel-threads-only', 'k'),
      uint('min-block-time', 3_600_000_000, 'm'),
      uint('max-block-time', 3_600_000_000, 'M'),
      uint('perf-max-stack-depth', 127),
      uint('stack-storage-size', 65536),
      uint('state', 0xffff),
    ],
  },
  wakeuptime: {
    description: 'blocked time by waker stack: who woke the threads up',
    target: 'pid',
    output: 'stacks',
    kernelStacks: true,
    options: [
      flag('user-threads-only', 'u'),
      uint('min-block-time', 3_600_000_000, 'm'),
      uint('max-block-time', 3_600_000_000, 'M'),
      uint('perf-max-stack-depth', 127),
      uint('stack-storage-size', 65536),
    ],
  },
  runqlat: {
    description: 'run-queue (scheduler) latency histogram',
    target: 'pid',
    output: 'text',
    kernelStacks: false,
    options: [flag('milliseconds', 'm'), flag('tids', 'L'), flag('pids', 'P')],
  },
  runqslower: {
    description: 'individual scheduling delays above 10 ms',
    target: 'pid',
    output: 'text',
    kernelStacks: false,
    options: [flag('previous', 'P')],
  },
  cpudist: {
    description: 'on-CPU (or with --offcpu, off-CPU) time-slice histogram',
    target: 'pid',
    output: 'text',
    kernelStacks: false,
    options: [flag('milliseconds', 'm'), flag('offcpu', 'O'), flag('tids', 'L'), flag('pids', 'P')],
  },
  syscount: {
    description: 'system call counts and, with --latency, their time',
    target: 'pid',
    output: 'text',
    kernelStacks: false,
    options: [
      flag('latency', 'L'),
      flag('milliseconds', 'm'),
      flag('process', 'P'),
      flag('failures', 'x'),
      uint('top', 1000, 'T'),
    ],
  },
  opensnoop: {
    description: 'every open() with its result',
    target: 'pid',
    output: 'text',
    kernelStacks: false,
    options: [flag('extended-fields', 'e'), flag('timestamp', 'T'), flag('print-uid', 'U'), flag('failed', 'x')],
  },
  statsnoop: {
    description: 'every stat() with its result',
    target: 'pid',
    output: 'text',
    kernelStacks: false,
    options: [flag('timestamp', 't'), flag('failed', 'x')],
  },
  filelife: {
    description: 'short-lived files: created and deleted while tracing',
    target: 'pid',
    output: 'text',
    kernelStacks: false,
    options: [],
  },
  execsnoop: {
    description: 'every exec() in the container',
    target: 'cgroup',
    output: 'text',
    kernelStacks: false,
    options: [
      flag('quote', 'q'),
      flag('timestamp', 't'),
      flag('time', 'T'),
      flag('print-uid', 'U'),
      flag('fails', 'x'),
      uint('max-args', 128),
    ],
  },
  biolatency: {
    description: 'block I/O latency histogram of the container',
    target: 'cgroup',
    output: 'text',
    kernelStacks: false,
    options: [flag('disk', 'D'), flag('flag', 'F'), flag('milliseconds', 'm'), flag('queued', 'Q')],
  },
  biosnoop: {
    description: 'every block I/O of the container',
    target: 'cgroup',
    output: 'text',
    kernelStacks: false,
    options: [flag('queued', 'Q'), { long: 'disk', short: 'd', value: 'disk' }],
  },
  funclatency: {
    description: 'latency histogram of one kernel or user-space function',
    target: 'pid',
    output: 'text',
    kernelStacks: false,
    options: [flag('milliseconds', 'm'), flag('microseconds', 'u')],
    positional: {
      name: 'function',
      pattern: /^([A-Za-z0-9_./+-]{1,200}:)?[A-Za-z_][A-Za-z0-9_.]{0,127}$/,
      accepted: 'a function name, or LIBRARY:FUNCTION for a user-space function (for example c:malloc)',
    },
  },
  tcpconnect: {
    description: 'every outgoing TCP connection',
    target: 'pid',
    output: 'text',
    kernelStacks: false,
    options: [
      flag('count', 'c'),
      flag('source-port', 's'),
      flag('timestamp', 't'),
      flag('print-uid', 'U'),
      { long: 'port', short: 'P', value: 'ports' },
    ],
  },
  tcpconnlat: {
    description: 'TCP connect latency',
    target: 'pid',
    output: 'text',
    kernelStacks: false,
    options: [flag('lport', 'L'), flag('timestamp', 't')],
  },
  tcplife: {
    description: 'TCP sessions with their duration and bytes',
    target: 'pid',
    output: 'text',
    kernelStacks: false,
    options: [
      flag('ipv4', '4'),
      flag('ipv6', '6'),
      flag('time', 'T'),
      flag('wide', 'w'),
      { long: 'remoteport', short: 'D', value: 'ports' },
      { long: 'localport', short: 'L', value: 'ports' },
    ],
  },
} as const satisfies Record<string, ToolInfo>;

export type ToolName = keyof typeof TOOLS;
export const TOOL_NAMES = Object.keys(TOOLS) as [ToolName, ...ToolName[]];

export const MAX_TOOL_ARGS = 16;

const valuePatterns: Record<Exclude<OptionValue, 'flag'>, { pattern: RegExp; accepted: string }> = {
  uint: { pattern: /^[0-9]{1,10}$/, accepted: 'a non-negative integer' },
  ports: {
    pattern: /^[0-9]{1,5}(,[0-9]{1,5}){0,15}$/,
    accepted: 'a comma-separated list of up to 16 port numbers',
  },
  disk: { pattern: /^[a-z][a-z0-9]{0,31}$/, accepted: 'a block device name such as sda or nvme0n1' },
};

export type ToolArgsResult = { ok: true; argv: string[] } | { ok: false; index: number; message: string };

/**
 * Checks a tool's arguments against its allow-list. Accepted spellings: `-u`, `--user-threads-only`, `-m 1000`,
 * `-m1000`, `--min-block-time 1000`, `--min-block-time=1000`. Returns the canonical argv (`--long` / `--long=value`).
 */
export function parseToolArgs(name: string, args: readonly string[]): ToolArgsResult {
  const info: ToolInfo | undefined = (TOOLS as Record<string, ToolInfo>)[name];
  if (!info) return { ok: false, index: -1, message: `unknown tool "${name}"; accepted: ${TOOL_NAMES.join(', ')}` };
  const accepted = () =>
    info.options.length === 0
      ? `${name} takes no options`
      : `accepted for ${name}: ${info.options.map((o) => (o.short ? `-${o.short}/--${o.long}` : `--${o.long}`)).join(', ')}`;
  const argv: string[] = [];
  let positional: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (info.positional && positional === undefined && !arg.startsWith('-')) {
      if (!info.positional.pattern.test(arg)) {
        const what = info.positional.name;
        return {
          ok: false,
          index: i,
          message: `${what} ${JSON.stringify(arg)} is not accepted; accepted: ${info.positional.accepted}`,
        };
      }
      positional = arg;
      continue;
    }
    let option: ToolOption | undefined;
    let inline: string | undefined;
    const long = /^--([a-z0-9-]+)(?:=(.*))?$/s.exec(arg);
    const short = /^-([A-Za-z0-9])(.*)$/s.exec(arg);
    if (long) {
      option = info.options.find((o) => o.long === long[1]);
      inline = long[2];
    } else if (short) {
      option = info.options.find((o) => o.short === short[1]);
      inline = short[2] === '' ? undefined : short[2];
    }
    if (!option) return { ok: false, index: i, message: `option ${JSON.stringify(arg)} is not allowed; ${accepted()}` };
    if (option.value === 'flag') {
      if (inline !== undefined) return { ok: false, index: i, message: `--${option.long} takes no value` };
      argv.push(`--${option.long}`);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      value = args[i + 1];
      if (value === undefined) return { ok: false, index: i, message: `--${option.long} needs a value` };
      i++;
    }
    const { pattern, accepted: valueAccepted } = valuePatterns[option.value];
    if (!pattern.test(value) || (option.max !== undefined && Number(value) > option.max)) {
      const bound = option.max !== undefined ? ` up to ${option.max}` : '';
      return {
        ok: false,
        index: i,
        message: `--${option.long}: ${JSON.stringify(value)} is not accepted; accepted: ${valueAccepted}${bound}`,
      };
    }
    argv.push(`--${option.long}=${value}`);
  }
  if (info.positional) {
    if (positional === undefined) {
      return { ok: false, index: -1, message: `${name} needs a ${info.positional.name}: ${info.positional.accepted}` };
    }
    argv.push(positional);
  }
  return { ok: true, argv };
}

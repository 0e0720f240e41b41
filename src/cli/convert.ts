import { createWriteStream } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  collapseBpftrace,
  collapseGdb,
  collapseLibbpfTools,
  collapsePerfScript,
  foldedText,
  readFolded,
  summarize,
  toPprof,
  toSpeedscope,
  type CollapseResult,
} from '../profile/index.ts';
import { openInput, reportMalformed, writeAll } from '../profile/cli-support.ts';
import type { ByteSource } from '../profile/input.ts';

const readers: Record<string, (source: ByteSource) => Promise<CollapseResult>> = {
  folded: (source) => readFolded(source),
  perf: (source) => collapsePerfScript(source),
  bpftrace: (source) => collapseBpftrace(source),
  libbpf: (source) => collapseLibbpfTools(source),
  gdb: (source) => collapseGdb(source),
};

interface ConvertFlags {
  to: 'speedscope' | 'pprof' | 'summary' | 'folded';
  from: keyof typeof readers;
  top: number;
  name?: string;
  output?: string;
}

export function command(): Command {
  return new Command('convert')
    .description('convert stacks to speedscope JSON, gzipped pprof, a top-frames summary (JSON) or folded text')
    .argument('[file]', "input, '-' or none for standard input; may be gzipped")
    .addOption(
      new Option('--to <format>', 'output format')
        .choices(['speedscope', 'pprof', 'summary', 'folded'])
        .makeOptionMandatory(),
    )
    .addOption(new Option('--from <format>', 'input format').choices(Object.keys(readers)).default('folded'))
    .option(
      '--top <n>',
      'frames in the summary',
      (value: string) => {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 1 || n > 1000)
          throw new InvalidArgumentError(`--top must be an integer 1..1000, got ${value}`);
        return n;
      },
      10,
    )
    .option('--name <name>', 'profile name (speedscope)')
    .option('-o, --output <file>', 'write here instead of standard output (pprof is binary)')
    .action(async (file: string | undefined, flags: ConvertFlags) => {
      const result = await readers[flags.from](await openInput(file));
      reportMalformed('convert', result.malformedLines, result.malformedExamples);
      let data: string | Uint8Array;
      switch (flags.to) {
        case 'speedscope':
          data = JSON.stringify(toSpeedscope(result.stacks, { name: flags.name ?? file ?? 'stdin' }));
          break;
        case 'pprof':
          if (!flags.output && process.stdout.isTTY) throw new Error('pprof is binary: use -o FILE or a redirection');
          data = await toPprof(result.stacks);
          break;
        case 'summary':
          data = JSON.stringify(summarize(result.stacks, { top: flags.top }), null, 2) + '\n';
          break;
        case 'folded':
          data = foldedText(result.stacks);
          break;
      }
      if (flags.output) {
        const out = createWriteStream(flags.output);
        await writeAll(out, data);
        await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
      } else {
        await writeAll(process.stdout, data);
      }
    });
}

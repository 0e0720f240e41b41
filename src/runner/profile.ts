import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { OutputFormat } from '../api/tracejob.ts';
import {
  collapseBpftrace,
  collapseGdb,
  collapsePerfScript,
  foldedText,
  renderFlameGraph,
  summarize,
  toPprof,
  toSpeedscope,
  type CollapseResult,
  type ProfileSummary,
  type Stacks,
} from '../profile/index.ts';
import { collapseOffcputime } from './offcputime.ts';
import type { OutputFile, StackFormat } from './tracers/types.ts';

export interface RenderedProfile {
  files: OutputFile[];
  stacks: Stacks;
  summary: ProfileSummary;
  notes: string[];
}

export async function collapse(format: StackFormat, path: string): Promise<CollapseResult> {
  const source = createReadStream(path);
  switch (format) {
    case 'perf-script':
      return collapsePerfScript(source);
    case 'bpftrace':
      // ustack/kstack print `function+offset`: one function would split into a frame per sampled instruction.
      return collapseBpftrace(source, { stripOffsets: true });
    case 'gdb':
      return collapseGdb(source);
    case 'offcputime':
      return collapseOffcputime(source);
  }
}

/** What a count means for each stack source, for the flame graph and converters. */
const units: Record<StackFormat, { countName: string; speedscope: 'none' | 'microseconds'; pprof: [string, string] }> =
  {
    'perf-script': { countName: 'samples', speedscope: 'none', pprof: ['samples', 'count'] },
    bpftrace: { countName: 'samples', speedscope: 'none', pprof: ['samples', 'count'] },
    gdb: { countName: 'samples', speedscope: 'none', pprof: ['samples', 'count'] },
    offcputime: { countName: 'microseconds', speedscope: 'microseconds', pprof: ['off_cpu', 'microseconds'] },
  };

/** Stacks to the requested formats, each written to `dir` as `<prefix><file>`; the summary is always computed. */
export async function renderProfile(options: {
  format: StackFormat;
  path: string;
  outputs: readonly OutputFormat[];
  dir: string;
  prefix: string;
  title: string;
}): Promise<RenderedProfile> {
  const collapsed = await collapse(options.format, options.path);
  const { stacks } = collapsed;
  const notes: string[] = [];
  if (collapsed.malformedLines > 0) {
    notes.push(
      `${collapsed.malformedLines} line(s) of tracer output were not understood, e.g. ${JSON.stringify(collapsed.malformedExamples[0])}`,
    );
  }
  const written = await renderStacks({ ...options, stacks });
  return { ...written, notes };
}

/** Already folded stacks to the requested formats, each written to `dir` as `<prefix><file>`. */
export async function renderStacks(options: {
  stacks: Stacks;
  format: StackFormat;
  outputs: readonly OutputFormat[];
  dir: string;
  prefix: string;
  title: string;
}): Promise<Omit<RenderedProfile, 'notes'>> {
  const { stacks } = options;
  const unit = units[options.format];
  const summary = summarize(stacks, { top: 10 });
  const files: OutputFile[] = [];
  const write = async (name: string, format: OutputFormat, content: string | Buffer) => {
    const path = join(options.dir, `${options.prefix}${name}`);
    await writeFile(path, content);
    files.push({ name: `${options.prefix}${name}`, path, format });
  };
  for (const output of options.outputs) {
    switch (output) {
      case 'folded':
        await write('stacks.folded', output, foldedText(stacks));
        break;
      case 'flamegraph':
        await write(
          'flamegraph.svg',
          output,
          renderFlameGraph(stacks, { title: options.title, countName: unit.countName }),
        );
        break;
      case 'speedscope':
        await write(
          'profile.speedscope.json',
          output,
          JSON.stringify(toSpeedscope(stacks, { name: options.title, unit: unit.speedscope })),
        );
        break;
      case 'pprof':
        await write('profile.pb.gz', output, await toPprof(stacks, { sampleType: unit.pprof[0], unit: unit.pprof[1] }));
        break;
      case 'summary':
        await write('summary.json', output, JSON.stringify(summary, null, 2));
        break;
      case 'raw':
        break;
    }
  }
  return { files, stacks, summary };
}

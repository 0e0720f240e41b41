import type { Stacks } from './stacks.ts';

export interface SpeedscopeOptions {
  /** Profile name shown by speedscope (default "tracejob"). */
  name?: string;
  /** What a count means; speedscope accepts none, nanoseconds, microseconds, milliseconds, seconds and bytes. */
  unit?: 'none' | 'nanoseconds' | 'microseconds' | 'milliseconds' | 'seconds' | 'bytes';
}

export interface SpeedscopeFile {
  $schema: 'https://www.speedscope.app/file-format-schema.json';
  shared: { frames: { name: string }[] };
  profiles: {
    type: 'sampled';
    name: string;
    unit: NonNullable<SpeedscopeOptions['unit']>;
    startValue: number;
    endValue: number;
    samples: number[][];
    weights: number[];
  }[];
  name: string;
  activeProfileIndex: number;
  exporter: string;
}

/**
 * One "sampled" speedscope profile: each unique stack becomes one weighted sample (root first), frames are shared by
 * name. Stack order is kept, so speedscope's time-order view follows the input.
 */
export function toSpeedscope(stacks: Stacks, options: SpeedscopeOptions = {}): SpeedscopeFile {
  const frameIndex = new Map<string, number>();
  const frames: { name: string }[] = [];
  const samples: number[][] = [];
  const weights: number[] = [];
  let total = 0;
  for (const [stack, count] of stacks) {
    if (count <= 0) continue;
    const sample: number[] = [];
    for (const name of stack.split(';')) {
      let index = frameIndex.get(name);
      if (index === undefined) {
        index = frames.length;
        frameIndex.set(name, index);
        frames.push({ name });
      }
      sample.push(index);
    }
    samples.push(sample);
    weights.push(count);
    total += count;
  }
  const name = options.name ?? 'tracejob';
  return {
    $schema: 'https://www.speedscope.app/file-format-schema.json',
    shared: { frames },
    profiles: [
      { type: 'sampled', name, unit: options.unit ?? 'none', startValue: 0, endValue: total, samples, weights },
    ],
    name,
    activeProfileIndex: 0,
    exporter: 'tracejob',
  };
}

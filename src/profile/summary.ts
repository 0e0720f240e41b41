import type { Stacks } from './stacks.ts';

export interface TopFrame {
  frame: string;
  /** Share of samples in which this frame is the leaf (on CPU itself), in [0,1]. */
  self: number;
  /** Share of samples in which this frame is anywhere on the stack (recursion counted once), in [0,1]. */
  total: number;
}

export interface ProfileSummary {
  samples: number;
  topFrames: TopFrame[];
}

export interface SummaryOptions {
  /** How many frames to report (default 10). */
  top?: number;
  /** Longer frame names are shortened to this many characters with '...', to keep the status small (default 160). */
  maxFrameLength?: number;
  /** Decimal places kept in the fractions (default 4). */
  precision?: number;
}

/**
 * The hottest frames for the TraceJob status: ranked by self share, then by total share, so the list starts with
 * where the CPU time was spent and continues with the callers that own most of it.
 */
export function summarize(stacks: Stacks, options: SummaryOptions = {}): ProfileSummary {
  const top = options.top ?? 10;
  const maxFrameLength = options.maxFrameLength ?? 160;
  const scale = 10 ** (options.precision ?? 4);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let samples = 0;
  const seen = new Set<string>();
  for (const [stack, count] of stacks) {
    if (count <= 0) continue;
    samples += count;
    const frames = stack.split(';');
    const leaf = frames[frames.length - 1];
    self.set(leaf, (self.get(leaf) ?? 0) + count);
    seen.clear();
    for (const frame of frames) {
      if (seen.has(frame)) continue;
      seen.add(frame);
      total.set(frame, (total.get(frame) ?? 0) + count);
    }
  }
  if (samples === 0) return { samples: 0, topFrames: [] };
  const ranked = [...total.keys()]
    .map((frame) => ({ frame, self: self.get(frame) ?? 0, total: total.get(frame)! }))
    .sort((a, b) => b.self - a.self || b.total - a.total || (a.frame < b.frame ? -1 : a.frame > b.frame ? 1 : 0))
    .slice(0, top);
  return {
    samples,
    topFrames: ranked.map(({ frame, self, total }) => ({
      frame: frame.length > maxFrameLength ? `${frame.slice(0, maxFrameLength - 3)}...` : frame,
      self: Math.round((self / samples) * scale) / scale,
      total: Math.round((total / samples) * scale) / scale,
    })),
  };
}

import { diffColour, frameColour, type Palette } from './palette.ts';
import type { Stacks } from './stacks.ts';
import { viewerScript } from './viewer-script.ts';

export interface FlameGraphOptions {
  /** Default "Flame Graph", "Icicle Graph", "Flame Chart" or "Differential Flame Graph" by mode. */
  title?: string;
  subtitle?: string;
  /** Image width in pixels (default 1200). */
  width?: number;
  /** Height of one frame in pixels (default 16). */
  frameHeight?: number;
  fontSize?: number;
  fontFamily?: string;
  /** Frames narrower than this many pixels are left out, with their children (default 0.1). */
  minWidth?: number;
  palette?: Palette;
  /** What a count is called in tooltips (default "samples"). */
  countName?: string;
  /** Label before a frame's name in the details line (default "Function:"). */
  nameType?: string;
  /** Stacks drawn leaf first: the callers of each function merge instead of its callees. */
  reverse?: boolean;
  /** Icicle graph: root at the top, growing down. */
  inverted?: boolean;
  /** Keep the input's order (time) instead of sorting frames by name; only adjacent equal frames merge. */
  flameChart?: boolean;
}

export interface DiffFlameGraphOptions extends FlameGraphOptions {
  /** Scale the first profile to the second's total before comparing (different durations or rates). */
  normalize?: boolean;
  /**
   * Swap the hues (blue for more, red for less), as flamegraph.pl's --negate: `diff(after, before, { negate })` draws
   * the first profile's widths coloured by what changed in the second, which shows code paths that went away.
   */
  negate?: boolean;
}

interface LaidOutFrame {
  name: string;
  depth: number;
  start: number;
  value: number;
  delta: number;
  /** The frame's own change, without its callees': what differential colours show, as flamegraph.pl's do. */
  selfDelta: number;
}

interface WeightedStack {
  /** Frames root first, joined by `separator`. */
  stack: string;
  value: number;
  /** Second-minus-first samples, for differential graphs. */
  delta: number;
}

const xPad = 10;
/**
 * Joins frames for layout. It sorts before every other character, so a plain sort of joined stacks puts stacks
 * sharing callers next to each other and siblings in name order (a shorter name before a longer one it starts).
 */
const separator = '\u0000';

function layoutStack(stack: string, reverse: boolean): string {
  // split/join, not replaceAll: V8 builds replaceAll's result as a deep rope that is slow to hash and compare.
  const frames = stack.split(';');
  return (reverse ? frames.reverse() : frames).join(separator);
}

/** Merges equal stacks and sorts them; the default sort compares natively, several times faster than a callback. */
function sortStacks(stacks: WeightedStack[]): WeightedStack[] {
  const byStack = new Map<string, WeightedStack>();
  for (const entry of stacks) {
    const known = byStack.get(entry.stack);
    if (known) {
      known.value += entry.value;
      known.delta += entry.delta;
    } else {
      byStack.set(entry.stack, { ...entry });
    }
  }
  return [...byStack.keys()].sort().map((stack) => byStack.get(stack)!);
}

/**
 * Lays out frames from ordered stacks in one pass, as flamegraph.pl does, keeping only the open path: each stack
 * closes the frames it does not share with the previous one and opens its own. The open path lives in flat arrays
 * (frame names as offsets into their stack), so nothing is allocated for the many frames that end up narrower than
 * `minValue` and are dropped.
 */
function flow(
  stacks: WeightedStack[],
  minValue: number,
): { frames: LaidOutFrame[]; maxDepth: number; total: number; maxAbsSelfDelta: number } {
  const frames: LaidOutFrame[] = [];
  let capacity = 256;
  let openStart = new Float64Array(capacity);
  let openDelta = new Float64Array(capacity);
  let openSelf = new Float64Array(capacity);
  let openFrom = new Int32Array(capacity);
  let openTo = new Int32Array(capacity);
  const openStack: string[] = [];
  let depth = 0;
  let x = 0;
  let totalDelta = 0;
  let maxDepth = 0;
  let maxAbsSelfDelta = 0;
  let previous = '';

  const close = (): void => {
    depth--;
    const value = x - openStart[depth];
    const self = openSelf[depth];
    if (Math.abs(self) > maxAbsSelfDelta) maxAbsSelfDelta = Math.abs(self);
    if (value > 0 && value >= minValue) {
      frames.push({
        name: openStack[depth].slice(openFrom[depth], openTo[depth]),
        depth: depth + 1,
        start: openStart[depth],
        value,
        delta: openDelta[depth],
        selfDelta: self,
      });
      if (depth + 1 > maxDepth) maxDepth = depth + 1;
    }
  };
  const grow = (): void => {
    capacity *= 2;
    const widen = <T extends Float64Array | Int32Array>(array: T, make: (n: number) => T): T => {
      const wider = make(capacity);
      wider.set(array);
      return wider;
    };
    openStart = widen(openStart, (n) => new Float64Array(n));
    openDelta = widen(openDelta, (n) => new Float64Array(n));
    openSelf = widen(openSelf, (n) => new Float64Array(n));
    openFrom = widen(openFrom, (n) => new Int32Array(n));
    openTo = widen(openTo, (n) => new Int32Array(n));
  };

  for (const { stack, value, delta } of stacks) {
    // Frames shared with the previous stack: whole frames inside the common prefix of the two strings.
    const limit = Math.min(stack.length, previous.length);
    let common = 0;
    while (common < limit && stack.charCodeAt(common) === previous.charCodeAt(common)) common++;
    let shared = 0;
    let from = 0;
    while (shared < depth) {
      let to = stack.indexOf(separator, from);
      if (to < 0) to = stack.length;
      const endsInBoth =
        to < common ||
        (to === common &&
          (to === stack.length || stack.charCodeAt(to) === 0) &&
          (to === previous.length || previous.charCodeAt(to) === 0));
      if (!endsInBoth) break;
      shared++;
      from = to + 1;
    }
    while (depth > shared) close();
    while (from <= stack.length) {
      let to = stack.indexOf(separator, from);
      if (to < 0) to = stack.length;
      if (depth === capacity) grow();
      openStart[depth] = x;
      openDelta[depth] = 0;
      openSelf[depth] = 0;
      openFrom[depth] = from;
      openTo[depth] = to;
      openStack[depth] = stack;
      depth++;
      from = to + 1;
    }
    if (delta !== 0) {
      for (let i = 0; i < depth; i++) openDelta[i] += delta;
      openSelf[depth - 1] += delta;
      totalDelta += delta;
    }
    x += value;
    previous = stack;
  }
  while (depth > 0) close();
  frames.push({ name: 'all', depth: 0, start: 0, value: x, delta: totalDelta, selfDelta: 0 });
  return { frames, maxDepth, total: x, maxAbsSelfDelta };
}

// XML 1.0 forbids most C0 controls even as character references; they become U+FFFD.
// eslint-disable-next-line no-control-regex
const xmlSpecial = /[&<>"]|[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g;
function escapeXml(text: string): string {
  return text.replace(xmlSpecial, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '\ufffd',
  );
}

function formatNumber(value: number): string {
  return Number.isInteger(value)
    ? value.toLocaleString('en-US')
    : value.toLocaleString('en-US', { maximumFractionDigits: 3 });
}

function percent(part: number, whole: number): string {
  return whole === 0 ? '0' : ((100 * part) / whole).toFixed(2);
}

/** The label that fits a frame of this width, shortened with '..', as the viewer script computes it on zoom. */
function fitLabel(name: string, width: number, fontSize: number): string {
  const charWidth = fontSize * 0.59;
  const fits = Math.floor((width - 6) / charWidth);
  if (fits < 3) return '';
  return name.length <= fits ? name : name.slice(0, fits - 2) + '..';
}

interface Drawing {
  /** Ordered stacks: sorted for a flame graph, input order for a flame chart. */
  stacks: WeightedStack[];
  total: number;
  diff: boolean;
  defaultTitle: string;
}

function draw(drawing: Drawing, options: FlameGraphOptions): string {
  const width = options.width ?? 1200;
  const frameHeight = options.frameHeight ?? 16;
  const fontSize = options.fontSize ?? 12;
  const fontFamily = options.fontFamily ?? 'Verdana, sans-serif';
  const minWidth = options.minWidth ?? 0.1;
  const palette = options.palette ?? 'hot';
  const countName = options.countName ?? 'samples';
  const inverted = Boolean(options.inverted);
  const title = options.title ?? drawing.defaultTitle;
  const { total } = drawing;
  const pxPerSample = total > 0 ? (width - 2 * xPad) / total : 0;
  const minValue = pxPerSample > 0 ? minWidth / pxPerSample : Infinity;
  const { frames, maxDepth, maxAbsSelfDelta } = flow(drawing.stacks, minValue);
  const yTop = fontSize * 3 + (options.subtitle ? fontSize * 2 : 0);
  const yBottom = fontSize * 2 + 10;
  const height = yTop + yBottom + (maxDepth + 1) * frameHeight;

  const out: string[] = [];
  out.push(
    '<?xml version="1.0" standalone="no"?>\n',
    `<svg version="1.1" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" `,
    'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" ',
    `data-total="${total}" data-pad="${xPad}" data-font-size="${fontSize}" data-min-width="${minWidth}" `,
    `data-count-name="${escapeXml(countName)}" data-name-type="${escapeXml(options.nameType ?? 'Function:')}" `,
    `data-diff="${drawing.diff ? 1 : 0}">\n`,
    '<!-- Drawn by tracejob; hover for details, click to zoom, Ctrl-F or "Search" to highlight. -->\n',
    '<defs><linearGradient id="background" y1="0" y2="1" x1="0" x2="0">',
    '<stop stop-color="#eeeeee" offset="5%"/><stop stop-color="#eeeeb0" offset="95%"/></linearGradient></defs>\n',
    `<style>text{font-family:${escapeXml(fontFamily)};font-size:${fontSize}px;fill:#000}`,
    '#title{text-anchor:middle;font-size:' + (fontSize + 5) + 'px}#subtitle{text-anchor:middle;fill:#555}',
    '.button{cursor:pointer;opacity:0.9}.button:hover{opacity:1;text-decoration:underline}.hide{display:none}',
    '#matched{text-anchor:end}#search{text-anchor:end}#ignorecase{text-anchor:end}',
    '#frames g{cursor:pointer}#frames g:hover rect{stroke:#000;stroke-width:0.5}',
    '#frames text{pointer-events:none}#frames g.parent{opacity:0.5}</style>\n',
    `<script type="text/ecmascript"><![CDATA[${viewerScript}]]></script>\n`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="url(#background)"/>\n`,
    `<text id="title" x="${width / 2}" y="${fontSize * 2}">${escapeXml(title)}</text>\n`,
  );
  if (options.subtitle) {
    out.push(`<text id="subtitle" x="${width / 2}" y="${fontSize * 4}">${escapeXml(options.subtitle)}</text>\n`);
  }
  const bottom = height - fontSize / 2 - 2;
  out.push(
    `<text id="details" x="${xPad}" y="${bottom}"> </text>\n`,
    `<text id="unzoom" class="button hide" x="${xPad}" y="${fontSize * 2}">Reset Zoom</text>\n`,
    `<text id="search" class="button" x="${width - xPad - 40}" y="${fontSize * 2}">Search</text>\n`,
    `<text id="ignorecase" class="button" x="${width - xPad}" y="${fontSize * 2}">ic</text>\n`,
    `<text id="matched" x="${width - xPad}" y="${bottom}"> </text>\n`,
    '<g id="frames">\n',
  );
  const frameBase = inverted ? yTop : height - yBottom - frameHeight;
  for (const frame of frames) {
    const x = xPad + frame.start * pxPerSample;
    const w = frame.value * pxPerSample;
    const y = inverted ? frameBase + frame.depth * frameHeight : frameBase - frame.depth * frameHeight;
    let info = `${formatNumber(frame.value)} ${countName}, ${percent(frame.value, total)}%`;
    let fill: string;
    if (frame.depth === 0) {
      fill = 'rgb(210,210,210)';
    } else if (drawing.diff) {
      fill = diffColour(frame.selfDelta, maxAbsSelfDelta);
      info += `; ${frame.delta >= 0 ? '+' : ''}${percent(frame.delta, total)}%`;
    } else {
      fill = frameColour(palette, frame.name);
    }
    const name = escapeXml(frame.name);
    out.push(
      `<g data-x="${frame.start}" data-v="${frame.value}" data-d="${frame.depth}"><title>${name} (${escapeXml(info)})</title>`,
      `<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${frameHeight - 1}" fill="${fill}" rx="2" ry="2"/>`,
      `<text x="${(x + 3).toFixed(1)}" y="${y + frameHeight - 4.5}">${escapeXml(fitLabel(frame.name, w, fontSize))}</text></g>\n`,
    );
  }
  out.push('</g>\n</svg>\n');
  return out.join('');
}

/** An interactive SVG flame graph (search, zoom, reset) from folded stacks; opens directly in a browser. */
export function renderFlameGraph(stacks: Iterable<[string, number]>, options: FlameGraphOptions = {}): string {
  const weighted: WeightedStack[] = [];
  let total = 0;
  for (const [stack, count] of stacks) {
    if (count <= 0) continue;
    weighted.push({ stack: layoutStack(stack, Boolean(options.reverse)), value: count, delta: 0 });
    total += count;
  }
  const chart = Boolean(options.flameChart);
  const defaultTitle = chart ? 'Flame Chart' : options.inverted ? 'Icicle Graph' : 'Flame Graph';
  return draw({ stacks: chart ? weighted : sortStacks(weighted), total, diff: false, defaultTitle }, options);
}

/**
 * A differential flame graph: widths from the second profile (`after`), red where it has more samples than the first
 * (`before`), blue where fewer.
 */
export function renderDiffFlameGraph(before: Stacks, after: Stacks, options: DiffFlameGraphOptions = {}): string {
  let scale = 1;
  if (options.normalize) {
    let beforeTotal = 0;
    let afterTotal = 0;
    for (const v of before.values()) beforeTotal += v;
    for (const v of after.values()) afterTotal += v;
    if (beforeTotal > 0) scale = afterTotal / beforeTotal;
  }
  const sign = options.negate ? -1 : 1;
  const reverse = Boolean(options.reverse);
  const weighted: WeightedStack[] = [];
  let total = 0;
  for (const [stack, count] of after) {
    if (count <= 0) continue;
    const previous = (before.get(stack) ?? 0) * scale;
    weighted.push({ stack: layoutStack(stack, reverse), value: count, delta: sign * (count - previous) });
    total += count;
  }
  // Stacks only in the first profile have no width but still make their callers' changes negative.
  for (const [stack, count] of before) {
    if (count > 0 && !after.has(stack)) {
      weighted.push({ stack: layoutStack(stack, reverse), value: 0, delta: sign * -count * scale });
    }
  }
  return draw(
    {
      stacks: options.flameChart ? weighted : sortStacks(weighted),
      total,
      diff: true,
      defaultTitle: 'Differential Flame Graph',
    },
    options,
  );
}

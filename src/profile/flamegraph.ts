import { diffColour, frameColour, type Palette } from './palette.ts';
import { compareBytes, type Stacks } from './stacks.ts';
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

interface Node {
  name: string;
  value: number;
  /** Second-minus-first samples, for differential graphs. */
  delta: number;
  children: Node[];
  index: Map<string, Node> | undefined;
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

const xPad = 10;

function newNode(name: string): Node {
  return { name, value: 0, delta: 0, children: [], index: undefined };
}

/** Adds one stack to the tree; a flame chart only merges with the latest sibling so time order survives. */
function insert(root: Node, frames: string[], value: number, delta: number, chart: boolean): void {
  let node = root;
  node.value += value;
  node.delta += delta;
  for (const name of frames) {
    let child: Node | undefined;
    if (chart) {
      const last = node.children[node.children.length - 1];
      child = last?.name === name ? last : undefined;
    } else {
      child = node.index?.get(name);
    }
    if (!child) {
      child = newNode(name);
      node.children.push(child);
      if (!chart) (node.index ??= new Map()).set(name, child);
    }
    child.value += value;
    child.delta += delta;
    node = child;
  }
}

function splitStack(stack: string, reverse: boolean): string[] {
  const frames = stack.split(';');
  return reverse ? frames.reverse() : frames;
}

/** Frames in drawing order with their sample offsets; subtrees narrower than the minimum width are dropped. */
function layout(root: Node, minValue: number, sortByName: boolean): { frames: LaidOutFrame[]; maxDepth: number } {
  const frames: LaidOutFrame[] = [];
  let maxDepth = 0;
  const stack: { node: Node; depth: number; start: number }[] = [{ node: root, depth: 0, start: 0 }];
  while (stack.length > 0) {
    const { node, depth, start } = stack.pop()!;
    let childDelta = 0;
    for (const child of node.children) childDelta += child.delta;
    frames.push({
      name: node.name,
      depth,
      start,
      value: node.value,
      delta: node.delta,
      selfDelta: node.delta - childDelta,
    });
    if (depth > maxDepth) maxDepth = depth;
    const children = sortByName ? node.children.sort((a, b) => compareBytes(a.name, b.name)) : node.children;
    let offset = start;
    const next: { node: Node; depth: number; start: number }[] = [];
    for (const child of children) {
      if (child.value >= minValue && child.value > 0) next.push({ node: child, depth: depth + 1, start: offset });
      offset += child.value;
    }
    for (let i = next.length - 1; i >= 0; i--) stack.push(next[i]);
  }
  return { frames, maxDepth };
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
export function fitLabel(name: string, width: number, fontSize: number): string {
  const charWidth = fontSize * 0.59;
  const fits = Math.floor((width - 6) / charWidth);
  if (fits < 3) return '';
  return name.length <= fits ? name : name.slice(0, fits - 2) + '..';
}

interface Drawing {
  root: Node;
  total: number;
  diff: boolean;
  maxAbsDelta: number;
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
  const { root, total } = drawing;
  const pxPerSample = total > 0 ? (width - 2 * xPad) / total : 0;
  const minValue = pxPerSample > 0 ? minWidth / pxPerSample : Infinity;
  const { frames, maxDepth } = layout(root, minValue, !options.flameChart);
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
      fill = diffColour(frame.selfDelta, drawing.maxAbsDelta);
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
  const chart = Boolean(options.flameChart);
  const root = newNode('all');
  for (const [stack, count] of stacks) {
    if (count > 0) insert(root, splitStack(stack, Boolean(options.reverse)), count, 0, chart);
  }
  const defaultTitle = chart ? 'Flame Chart' : options.inverted ? 'Icicle Graph' : 'Flame Graph';
  return draw({ root, total: root.value, diff: false, maxAbsDelta: 0, defaultTitle }, options);
}

/**
 * A differential flame graph: widths from the second profile (`after`), red where it has more samples than the first
 * (`before`), blue where fewer.
 */
export function renderDiffFlameGraph(before: Stacks, after: Stacks, options: DiffFlameGraphOptions = {}): string {
  const first = before;
  const second = after;
  let scale = 1;
  if (options.normalize) {
    let firstTotal = 0;
    let secondTotal = 0;
    for (const v of first.values()) firstTotal += v;
    for (const v of second.values()) secondTotal += v;
    if (firstTotal > 0) scale = secondTotal / firstTotal;
  }
  const chart = Boolean(options.flameChart);
  const root = newNode('all');
  const sign = options.negate ? -1 : 1;
  for (const [stack, count] of second) {
    const previous = (first.get(stack) ?? 0) * scale;
    if (count > 0) insert(root, splitStack(stack, Boolean(options.reverse)), count, sign * (count - previous), chart);
  }
  // Stacks only in the first profile have no width but still make their ancestors' deltas negative.
  for (const [stack, count] of first) {
    if (!second.has(stack) && count > 0) {
      insert(root, splitStack(stack, Boolean(options.reverse)), 0, sign * -count * scale, chart);
    }
  }
  let maxAbsDelta = 0;
  const pending: Node[] = [...root.children];
  while (pending.length > 0) {
    const node = pending.pop()!;
    let childDelta = 0;
    for (const child of node.children) childDelta += child.delta;
    const own = Math.abs(node.delta - childDelta);
    if (own > maxAbsDelta) maxAbsDelta = own;
    pending.push(...node.children);
  }
  return draw({ root, total: root.value, diff: true, maxAbsDelta, defaultTitle: 'Differential Flame Graph' }, options);
}

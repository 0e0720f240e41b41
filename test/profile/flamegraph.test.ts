import assert from 'node:assert/strict';
import { test } from 'node:test';
import { paletteNames, renderDiffFlameGraph, renderFlameGraph, type Stacks } from '../../src/profile/index.ts';

interface Frame {
  name: string;
  x: number;
  value: number;
  depth: number;
  rectX: number;
  y: number;
  width: number;
  fill: string;
  title: string;
  label: string;
}

/** The frames as drawn, read back from the SVG. */
function frames(svg: string): Frame[] {
  const pattern =
    /<g data-x="([\d.]+)" data-v="([\d.]+)" data-d="(\d+)"><title>([^<]*)<\/title><rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="[\d.]+" fill="([^"]+)"[^>]*\/><text[^>]*>([^<]*)<\/text><\/g>/g;
  return [...svg.matchAll(pattern)].map((m) => ({
    name: m[4].slice(0, m[4].lastIndexOf(' (')),
    x: Number(m[1]),
    value: Number(m[2]),
    depth: Number(m[3]),
    rectX: Number(m[5]),
    y: Number(m[6]),
    width: Number(m[7]),
    fill: m[8],
    title: m[4],
    label: m[9],
  }));
}

const stacks: Stacks = new Map([
  ['app;main;parse;lex', 30],
  ['app;main;parse', 10],
  ['app;main;render', 50],
  ['app;idle', 9],
  ['app;main;tiny', 1],
]);

test('frames are merged, sorted by name and sized by their share of samples', () => {
  const drawn = frames(renderFlameGraph(stacks, { width: 1020, minWidth: 0 }));
  const byName = new Map(drawn.map((f) => [f.name, f]));
  assert.equal(byName.get('all')!.value, 100);
  assert.equal(byName.get('main')!.value, 91);
  assert.equal(byName.get('parse')!.value, 40);
  // 1000 px for 100 samples: 10 px each, after a 10 px margin.
  assert.equal(byName.get('render')!.width, 500);
  assert.equal(byName.get('idle')!.rectX, 10);
  assert.equal(byName.get('main')!.rectX, 100);
  assert.ok(byName.get('parse')!.rectX < byName.get('render')!.rectX, 'siblings in name order');
  // Root at the bottom: deeper frames higher up.
  assert.ok(byName.get('lex')!.y < byName.get('parse')!.y);
});

test('title, subtitle, count name and escaping', () => {
  const svg = renderFlameGraph(new Map([['a;<b> & "c"', 3]]), {
    title: 'CPU <profile>',
    subtitle: 'node-1, 30s',
    countName: 'cycles',
  });
  assert.match(svg, /<text id="title"[^>]*>CPU &lt;profile&gt;<\/text>/);
  assert.match(svg, /<text id="subtitle"[^>]*>node-1, 30s<\/text>/);
  assert.match(svg, /<title>&lt;b&gt; &amp; &quot;c&quot; \(3 cycles, 100.00%\)<\/title>/);
  assert.doesNotMatch(renderFlameGraph(stacks), /id="subtitle"/);
});

test('minimum width prunes narrow frames and their children', () => {
  const all = frames(renderFlameGraph(stacks, { width: 1020, minWidth: 0 }));
  const pruned = frames(renderFlameGraph(stacks, { width: 1020, minWidth: 15 }));
  assert.ok(all.some((f) => f.name === 'tiny'));
  assert.ok(!pruned.some((f) => f.name === 'tiny'), '10 px frame is under 15 px');
  assert.ok(
    pruned.some((f) => f.name === 'idle'),
    '90 px frame stays',
  );
});

test('colours are stable by name, across graphs and palettes differ', () => {
  const first = frames(renderFlameGraph(stacks));
  const other = frames(renderFlameGraph(new Map([['zzz;render', 5]])));
  assert.equal(first.find((f) => f.name === 'render')!.fill, other.find((f) => f.name === 'render')!.fill);
  const fills = new Set(paletteNames.map((palette) => frames(renderFlameGraph(stacks, { palette }))[2].fill));
  assert.ok(fills.size >= 10, `palettes give ${fills.size} distinct colours`);
  const java = frames(
    renderFlameGraph(new Map([['java;java/lang/Thread:.run;Interpreter::run;do_sys_[k];lock_[i]', 1]]), {
      palette: 'java',
      minWidth: 0,
    }),
  );
  const hue = (f: Frame) => f.fill.match(/\d+/g)!.map(Number);
  const [r, g] = hue(java.find((f) => f.name === 'java/lang/Thread:.run')!);
  assert.ok(g > r, 'Java frames are green');
  const kernel = hue(java.find((f) => f.name === 'do_sys_[k]')!);
  assert.ok(kernel[0] > kernel[1] && kernel[1] > kernel[2], 'kernel frames are orange');
});

test('reverse merges callers of each leaf; inverted draws an icicle; flame chart keeps input order', () => {
  const reversed = frames(renderFlameGraph(stacks, { reverse: true, minWidth: 0 }));
  assert.deepEqual(
    reversed.filter((f) => f.depth === 1).map((f) => f.name),
    ['idle', 'lex', 'parse', 'render', 'tiny'],
  );
  const icicle = frames(renderFlameGraph(stacks, { inverted: true, minWidth: 0 }));
  const byName = new Map(icicle.map((f) => [f.name, f]));
  assert.ok(byName.get('lex')!.y > byName.get('parse')!.y, 'deeper frames lower down');
  assert.match(renderFlameGraph(stacks, { inverted: true }), />Icicle Graph</);

  const timeline: [string, number][] = [
    ['app;b', 1],
    ['app;a', 1],
    ['app;b', 1],
  ];
  const chart = frames(renderFlameGraph(timeline, { flameChart: true, minWidth: 0 }));
  assert.deepEqual(
    chart.filter((f) => f.depth === 2).map((f) => [f.name, f.x]),
    [
      ['b', 0],
      ['a', 1],
      ['b', 2],
    ],
  );
  assert.match(renderFlameGraph(timeline, { flameChart: true }), />Flame Chart</);
});

test('differential graphs: widths from the second profile, red for growth, blue for shrinkage', () => {
  const before: Stacks = new Map([
    ['app;grow', 10],
    ['app;shrink', 50],
    ['app;same', 20],
    ['app;gone', 20],
  ]);
  const after: Stacks = new Map([
    ['app;grow', 60],
    ['app;shrink', 10],
    ['app;same', 20],
  ]);
  const drawn = new Map(frames(renderDiffFlameGraph(before, after, { minWidth: 0 })).map((f) => [f.name, f]));
  assert.equal(drawn.get('all')!.value, 90);
  assert.equal(drawn.get('grow')!.fill, 'rgb(255,0,0)');
  assert.equal(drawn.get('shrink')!.fill, 'rgb(42,42,255)', '-40 of at most 50');
  assert.equal(drawn.get('same')!.fill, 'rgb(250,250,250)');
  assert.ok(!drawn.has('gone'), 'no width in the second profile');
  assert.match(drawn.get('grow')!.title, /60 samples, 66.67%; \+55.56%/);

  // difffolded.pl's advice, `after before --negate`: the first profile's widths, red still where samples grew.
  const negated = new Map(
    frames(renderDiffFlameGraph(after, before, { negate: true, minWidth: 0 })).map((f) => [f.name, f]),
  );
  assert.equal(negated.get('all')!.value, 100);
  assert.equal(negated.get('gone')!.fill, 'rgb(126,126,255)', 'gone: -20 of at most 50');
  assert.equal(negated.get('grow')!.fill, 'rgb(255,0,0)');

  const normalized = new Map(
    frames(renderDiffFlameGraph(new Map([['app;f', 10]]), new Map([['app;f', 20]]), { normalize: true })).map((f) => [
      f.name,
      f,
    ]),
  );
  assert.equal(normalized.get('f')!.fill, 'rgb(250,250,250)', 'same share after normalising');
});

test('labels are shortened to fit the frame', () => {
  const long = 'a_function_with_a_very_long_name_that_cannot_fit';
  const drawn = frames(
    renderFlameGraph(
      new Map([
        [`app;${long}`, 1],
        ['app;other', 9],
      ]),
      { width: 220, minWidth: 0 },
    ),
  );
  const frame = drawn.find((f) => f.name === long)!;
  assert.equal(frame.label, '', 'a 20 px frame has no room for text');
  const wide = frames(renderFlameGraph(new Map([[`app;${long}`, 1]]), { width: 220 })).find((f) => f.name === long)!;
  assert.ok(wide.label.endsWith('..') && wide.label.length < long.length && long.startsWith(wide.label.slice(0, -2)));
});

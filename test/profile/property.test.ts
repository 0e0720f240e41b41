import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { Profile } from 'pprof-format';
import {
  collapsePerfScript,
  diffFoldedText,
  foldedText,
  mergeStacks,
  readFolded,
  renderFlameGraph,
  sortedStackEntries,
  summarize,
  toPprof,
  toSpeedscope,
  totalSamples,
  type Stacks,
} from '../../src/profile/index.ts';

interface Sample {
  comm: string;
  tid: number;
  period: number;
  frames: string[];
}

const frameName = fc.constantFrom(
  'main',
  'parse',
  'render',
  'std::vector<int>::push_back',
  'é_utf8',
  'net/http.(*Client).Do',
  'x',
);
const sample = fc.record({
  comm: fc.constantFrom('app', 'web server', 'java', 'kworker/0:1'),
  tid: fc.integer({ min: 1, max: 99999 }),
  period: fc.integer({ min: 1, max: 1_000_000 }),
  frames: fc.array(frameName, { minLength: 1, maxLength: 6 }),
});
const samples = fc.array(sample, { maxLength: 30 });

function perfScript(list: Sample[]): string {
  return list
    .map(
      (s) =>
        `${s.comm} ${s.tid} [000] 1.000000: ${s.period} cycles:\n` +
        s.frames.map((f, i) => `\t${(0x1000 + i).toString(16)} ${f}+0x${i} (/usr/bin/app)\n`).join('') +
        '\n',
    )
    .join('');
}

/** What the stacks should be, written independently of the collapser: process name as root, leaf last. */
function model(list: Sample[]): Stacks {
  const stacks: Stacks = new Map();
  for (const s of list) {
    const frames = s.frames.map((f) => (f.includes('.(') ? f : f.replace(/\(.*/, '')));
    const stack = [s.comm.replaceAll(' ', '_'), ...frames.reverse()].join(';');
    stacks.set(stack, (stacks.get(stack) ?? 0) + s.period);
  }
  return stacks;
}

async function collapse(text: string): Promise<Stacks> {
  return (await collapsePerfScript(Readable.from([text]), { eventFilter: 'cycles' })).stacks;
}

test('collapse matches the model and keeps the total of periods', async () => {
  await fc.assert(
    fc.asyncProperty(samples, async (list) => {
      const stacks = await collapse(perfScript(list));
      assert.equal(foldedText(stacks), foldedText(model(list)));
      assert.equal(
        totalSamples(stacks),
        list.reduce((sum, s) => sum + s.period, 0),
      );
    }),
    { numRuns: 100 },
  );
});

test('collapsing a concatenation equals merging the collapses', async () => {
  await fc.assert(
    fc.asyncProperty(samples, samples, async (a, b) => {
      const whole = await collapse(perfScript(a) + perfScript(b));
      const merged = mergeStacks(await collapse(perfScript(a)), await collapse(perfScript(b)));
      assert.equal(foldedText(whole), foldedText(merged));
    }),
    { numRuns: 100 },
  );
});

const stacksArbitrary = fc
  .array(fc.tuple(fc.array(frameName, { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 1_000_000 })), {
    minLength: 1,
    maxLength: 40,
  })
  .map((entries) => {
    const stacks: Stacks = new Map();
    for (const [frames, count] of entries) {
      const stack = frames.join(';');
      stacks.set(stack, (stacks.get(stack) ?? 0) + count);
    }
    return stacks;
  });

test('totals are conserved across folded, speedscope, pprof, the summary and the flame graph', async () => {
  await fc.assert(
    fc.asyncProperty(stacksArbitrary, async (stacks) => {
      const total = totalSamples(stacks);
      const reread = await readFolded(Readable.from([foldedText(stacks)]));
      assert.deepEqual(new Map([...reread.stacks].sort()), new Map([...stacks].sort()));

      const speedscope = toSpeedscope(stacks);
      const weights = speedscope.profiles[0].weights.reduce((sum, w) => sum + w, 0);
      assert.equal(weights, total);
      assert.equal(speedscope.profiles[0].endValue, total);
      for (const [i, indices] of speedscope.profiles[0].samples.entries()) {
        const names = indices.map((index) => speedscope.shared.frames[index].name).join(';');
        assert.equal(stacks.get(names), speedscope.profiles[0].weights[i]);
      }

      const profile = Profile.decode(gunzipSync(await toPprof(stacks)));
      const strings = profile.stringTable.strings;
      let pprofTotal = 0;
      for (const s of profile.sample) {
        pprofTotal += Number(s.value[0]);
        const names = s.locationId
          .map((id) => {
            const location = profile.location.find((l) => Number(l.id) === Number(id))!;
            const fn = profile.function.find((f) => Number(f.id) === Number(location.line[0].functionId))!;
            return strings[Number(fn.name)];
          })
          .reverse()
          .join(';');
        assert.equal(stacks.get(names), Number(s.value[0]));
      }
      assert.equal(pprofTotal, total);

      const summary = summarize(stacks, { top: 1000 });
      assert.equal(summary.samples, total);
      const selfShare = summary.topFrames.reduce((sum, f) => sum + f.self, 0);
      assert.ok(Math.abs(selfShare - 1) < 0.01, `self shares add up to ${selfShare}`);
      for (const f of summary.topFrames) assert.ok(f.self >= 0 && f.self <= f.total && f.total <= 1, JSON.stringify(f));

      const svg = renderFlameGraph(stacks, { minWidth: 0 });
      assert.match(svg, new RegExp(`<g data-x="0" data-v="${total}" data-d="0"><title>all `));
    }),
    { numRuns: 60 },
  );
});

test('a differential folded file reads back as the two profiles', async () => {
  await fc.assert(
    fc.asyncProperty(stacksArbitrary, stacksArbitrary, async (before, after) => {
      const folded = await readFolded(Readable.from([diffFoldedText(before, after)]));
      assert.ok(folded.before);
      const nonZero = (stacks: Stacks) => new Map([...stacks].filter(([, v]) => v > 0).sort());
      assert.deepEqual(nonZero(folded.before), nonZero(before));
      assert.deepEqual(nonZero(folded.stacks), nonZero(after));
    }),
    { numRuns: 60 },
  );
});

test('folded output is in UTF-8 byte order, as Perl sorts, whatever the characters', () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.string({ unit: 'binary', maxLength: 6 }), { maxLength: 30 }), (keys) => {
      const stacks: Stacks = new Map(keys.map((key, i) => [key, i + 1]));
      const expected = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      const actual = sortedStackEntries(stacks).map(([key]) => key);
      // Lone surrogates encode to U+FFFD, so strings that differ only there tie in bytes; compare the encodings.
      assert.deepEqual(
        actual.map((key) => Buffer.from(key).toString('hex')),
        expected.map((key) => Buffer.from(key).toString('hex')),
      );
    }),
    { numRuns: 300 },
  );
});

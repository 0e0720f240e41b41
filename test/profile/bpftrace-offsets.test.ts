import assert from 'node:assert/strict';
import { createReadStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { collapseBpftrace, foldedText, summarize } from '../../src/profile/index.ts';
import { collapse } from '../../src/runner/profile.ts';

const fixtures = new URL('../fixtures/profile/', import.meta.url).pathname;

// One function sampled at three instructions, as bpftrace's ustack prints it, with an unsymbolized frame and a
// `@[kstack, ustack, comm]` key whose comm must stay as it is.
const output = [
  'Attaching 1 probe...',
  '@[',
  '    tracejob_demo_hot_spin+36',
  '    main+83',
  '    0x7f3a2b1c0de0',
  ']: 5',
  '@[',
  '    tracejob_demo_hot_spin+40',
  '    main+83',
  '    0x7f3a2b1c0de0',
  ']: 3',
  '@[',
  '    asm_sysvec_apic_timer_interrupt+26',
  ',',
  '    tracejob_demo_hot_spin+12',
  '    main+83',
  ', hot+1]: 2',
  '',
].join('\n');

test('stripOffsets folds every sampled instruction of a function into one frame', async () => {
  const { stacks } = await collapseBpftrace(Readable.from([output]), { stripOffsets: true });
  assert.equal(
    foldedText(stacks),
    '0x7f3a2b1c0de0;main;tracejob_demo_hot_spin 8\n' +
      'hot+1;main;tracejob_demo_hot_spin;asm_sysvec_apic_timer_interrupt 2\n',
  );
  const top = summarize(stacks, { top: 3 }).topFrames;
  assert.deepEqual(
    top.filter((f) => f.self > 0).map((f) => [f.frame, f.self]),
    [
      ['tracejob_demo_hot_spin', 0.8],
      ['asm_sysvec_apic_timer_interrupt', 0.2],
    ],
  );
});

test('without the option frames keep their offsets, byte for byte as stackcollapse-bpftrace.pl', async () => {
  const { stacks } = await collapseBpftrace(Readable.from([output]));
  assert.match(foldedText(stacks), /tracejob_demo_hot_spin\+36 5\n/);
  const golden = await collapseBpftrace(createReadStream(`${fixtures}bpftrace/bt-ustack.txt`));
  assert.equal(foldedText(golden.stacks), readFileSync(`${fixtures}golden/bt-ustack.bpftrace.folded`, 'utf8'));
});

test("the runner's bpftrace profiles carry no symbol offsets", async () => {
  const { stacks } = await collapse('bpftrace', `${fixtures}bpftrace/bt-ustack.txt`);
  const frames = [...stacks.keys()].flatMap((k) => k.split(';'));
  assert.ok(frames.includes('leaf_hash') && frames.includes('start_thread'), frames.join(' '));
  assert.ok(!frames.some((f) => /\+\d+$/.test(f)), frames.join(' '));
});

import assert from 'node:assert/strict';
import { createReadStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import {
  collapseBpftrace,
  collapseLibbpfTools,
  collapsePerfScript,
  foldedText,
  lineBatches,
  PerfScriptCollapser,
  ProfileInputError,
  readFolded,
} from '../../src/profile/index.ts';

const fixtures = new URL('../fixtures/profile/', import.meta.url).pathname;

/** Feeds the bytes in chunks of the given size, to exercise lines and UTF-8 characters split across chunks. */
function chunked(data: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts);
}

test('gzip input is recognised by its magic bytes and gives the same stacks as the plain text', async () => {
  const plain = await collapsePerfScript(createReadStream(`${fixtures}perf/system-wide.perf`));
  const gzipped = await collapsePerfScript(createReadStream(`${fixtures}perf/system-wide.perf.gz`));
  assert.ok(plain.stacks.size > 0);
  assert.equal(foldedText(gzipped.stacks), foldedText(plain.stacks));
});

test('lines and multi-byte characters split across chunk boundaries survive', async () => {
  const text = 'app;héllo;wörld 3\napp;日本語;関数 4\napp;😀 5\n';
  for (const size of [1, 2, 3, 5, 7]) {
    const folded = await readFolded(chunked(Buffer.from(text), size));
    assert.deepEqual(
      [...folded.stacks],
      [
        ['app;héllo;wörld', 3],
        ['app;日本語;関数', 4],
        ['app;😀', 5],
      ],
      `chunk size ${size}`,
    );
  }
});

test('binary input is refused with a clear error, perf.data by name', async () => {
  const elf = readFileSync(process.execPath).subarray(0, 65536);
  await assert.rejects(collapsePerfScript(Readable.from([elf])), (err: Error) => {
    assert.ok(err instanceof ProfileInputError);
    assert.match(err.message, /binary/);
    return true;
  });
  const perfData = Buffer.concat([Buffer.from('PERFILE2'), Buffer.alloc(200, 1)]);
  await assert.rejects(collapsePerfScript(Readable.from([perfData])), /perf\.data file.*perf script/);
  const gzippedBinary = gzipSync(elf);
  await assert.rejects(collapsePerfScript(Readable.from([gzippedBinary])), /binary/);
  const truncatedGzip = gzipSync(Buffer.from('a;b 1\n'.repeat(1000))).subarray(0, 40);
  await assert.rejects(readFolded(Readable.from([truncatedGzip])), ProfileInputError);
});

test('malformed lines are counted with examples, never fatal', async () => {
  const text = [
    'app 1 1.0: 1 cycles:',
    '\t1 main (/bin/app)',
    'garbage here',
    '',
    '   ',
    'app 1 2.0: 1 cycles:',
    '\t1 main (/bin/app)',
    '',
    '',
  ].join('\n');
  const result = await collapsePerfScript(Readable.from([text]));
  assert.equal(result.malformedLines, 2);
  assert.deepEqual(result.malformedExamples, ['garbage here', '   ']);
  assert.deepEqual([...result.stacks], [['app;main', 2]]);
  const folded = await readFolded(Readable.from(['a;b 1\nno count here\na;b x\n;c 2\na;b 2\n']));
  assert.equal(folded.malformedLines, 2);
  assert.deepEqual(
    [...folded.stacks],
    [
      ['a;b', 3],
      [';c', 2],
    ],
  );
});

test('a line longer than the limit is dropped and reported instead of growing memory', async () => {
  const long = 'x'.repeat(5000);
  const batches: string[] = [];
  let oversized = 0;
  const source = chunked(Buffer.from(`short\n${long}\nafter\n${long}`), 1000);
  for await (const batch of lineBatches(source, { maxLineLength: 2000, onOversizedLine: () => oversized++ })) {
    batches.push(...batch);
  }
  assert.deepEqual(batches, ['short', 'after']);
  assert.equal(oversized, 2);
});

test('an aborted signal stops reading', async () => {
  const controller = new AbortController();
  controller.abort(new Error('stop'));
  await assert.rejects(
    collapsePerfScript(Readable.from(['app 1 1.0: cycles:\n']), { signal: controller.signal }),
    /stop/,
  );
});

test('bpftrace @[kstack, ustack]: no separator frames, entries with an empty kernel stack kept, totals kept', async () => {
  const text = readFileSync(`${fixtures}bpftrace/bt-kustack.txt`, 'utf8');
  const expectedTotal = [...text.matchAll(/\]: (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  const result = await collapseBpftrace(Readable.from([text]));
  let total = 0;
  for (const [stack, count] of result.stacks) {
    total += count;
    assert.ok(!stack.split(';').some((frame) => frame.trim() === ','), stack);
  }
  assert.ok(expectedTotal > 0);
  assert.equal(total, expectedTotal);
  // User frames are the roots, kernel frames the leaves.
  assert.ok([...result.stacks.keys()].some((s) => /^0x[0-9a-f]+;.*;entry_SYSCALL_64/.test(s)));
});

test('libbpf-tools offcputime reports fold with the process as root and every count kept', async () => {
  const text = readFileSync(`${fixtures}libbpf/offcputime.txt`, 'utf8');
  const counts = text.split('\n').filter((line) => /^\s+\d+$/.test(line));
  const result = await collapseLibbpfTools(Readable.from([text]));
  assert.equal(result.malformedLines, 0);
  let total = 0;
  for (const [stack, count] of result.stacks) {
    total += count;
    assert.match(stack, /^cpu_worker;|^work;/);
  }
  assert.equal(
    total,
    counts.reduce((sum, line) => sum + Number(line), 0),
  );
  assert.ok(
    [...result.stacks.keys()].some(
      (s) =>
        s.endsWith(
          ';worker;cpu_phase;asm_sysvec_apic_timer_interrupt;irqentry_exit_to_user_mode;schedule;__schedule;bpf_trace_run4;bpf_prog_6896d07dd3e1383c_sched_switch',
        ) || s.includes(';cpu_phase;'),
    ),
  );
});

test('the perf collapser drops a frame line over the limit, counts it, and keeps the rest of the sample', () => {
  const collapser = new PerfScriptCollapser({ maxLineLength: 100 });
  collapser.push(Buffer.from(`app 1 1.0: 1 cycles:\n\t1 leaf (/a)\n\t2 ${'x'.repeat(200)} (/a)\n\t3 main (/a)\n\n`));
  assert.deepEqual([...collapser.stacks()], [['app;main;leaf', 1]]);
  assert.equal(collapser.malformed.count, 1);
  assert.deepEqual(collapser.malformed.examples, ['(line longer than the limit)']);
});

test('a frame line seen in a Java process and in another is tidied for each as upstream does', () => {
  const line = '\t1 Lcom/x/Y;.run (/tmp/perf-1.map)\n';
  const collapser = new PerfScriptCollapser();
  collapser.push(
    Buffer.from(`java 1 1.0: 1 cycles:\n${line}\napp 2 1.0: 1 cycles:\n${line}\njava 1 1.0: 1 cycles:\n${line}\n`),
  );
  assert.deepEqual(
    new Map(collapser.stacks()),
    new Map([
      ['app;Lcom/x/Y:.run', 1],
      ['java;com/x/Y:.run', 2],
    ]),
  );
});

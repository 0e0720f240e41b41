import assert from 'node:assert/strict';
import { createReadStream, readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  collapseBpftrace,
  collapseGdb,
  collapsePerfScript,
  foldedText,
  type PerfCollapseOptions,
} from '../../src/profile/index.ts';

const fixtures = new URL('../fixtures/profile/', import.meta.url).pathname;

/** The reference script's command-line flags, as golden-cases.txt spells them, in our option names. */
function perfOptions(flags: string[]): PerfCollapseOptions {
  const options: PerfCollapseOptions = {};
  for (const flag of flags) {
    if (flag.startsWith('--event-filter=')) options.eventFilter = flag.slice('--event-filter='.length);
    else if (flag === '--pid') options.pid = true;
    else if (flag === '--tid') options.tid = true;
    else if (flag === '--kernel') options.kernel = true;
    else if (flag === '--jit') options.jit = true;
    else if (flag === '--all') options.all = true;
    else if (flag === '--addrs') options.addrs = true;
    else throw new Error(`golden-cases.txt: unknown flag ${flag}`);
  }
  return options;
}

const cases = readFileSync(`${fixtures}golden-cases.txt`, 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => {
    const [capture, name, ...flags] = line.trim().split(/\s+/);
    return { capture, name, flags };
  });

for (const { capture, name, flags } of cases) {
  test(`perf script ${capture} ${flags.join(' ') || '(no options)'} folds byte for byte like stackcollapse-perf.pl`, async () => {
    const result = await collapsePerfScript(createReadStream(`${fixtures}perf/${capture}.perf`), perfOptions(flags));
    const expected = readFileSync(`${fixtures}golden/${capture}.${name}.folded`, 'utf8');
    assert.equal(foldedText(result.stacks), expected);
  });
}

test('the golden cases cover every option the issue names', () => {
  const used = new Set(cases.flatMap((c) => c.flags.map((f) => f.replace(/=.*/, ''))));
  for (const flag of ['--pid', '--tid', '--kernel', '--jit', '--all', '--addrs', '--event-filter']) {
    assert.ok(used.has(flag), `no golden case uses ${flag}`);
  }
});

test('bpftrace ustack maps fold like stackcollapse-bpftrace.pl (merged and sorted)', async () => {
  const result = await collapseBpftrace(createReadStream(`${fixtures}bpftrace/bt-ustack.txt`));
  assert.equal(foldedText(result.stacks), readFileSync(`${fixtures}golden/bt-ustack.bpftrace.folded`, 'utf8'));
});

test('gdb backtraces fold like stackcollapse-gdb.pl', async () => {
  const result = await collapseGdb(createReadStream(`${fixtures}gdb/gdb-bt.txt`));
  assert.equal(foldedText(result.stacks), readFileSync(`${fixtures}golden/gdb-bt.gdb.folded`, 'utf8'));
});

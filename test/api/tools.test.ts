import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { TOOLS, TOOL_NAMES, parseToolArgs, type ToolInfo } from '../../src/api/tools.ts';
import { BPFTRACE_SCRIPTS } from '../../src/api/tracejob.ts';
import { needs } from '../support/requirements.ts';

test('tool arguments are checked against the allow-list and canonicalised', () => {
  const cases: [string, string[], string[] | RegExp][] = [
    ['offcputime', ['-u', '-m', '1000'], ['--user-threads-only', '--min-block-time=1000']],
    ['offcputime', ['--min-block-time=5', '-M10'], ['--min-block-time=5', '--max-block-time=10']],
    ['offcputime', ['-p', '1'], /"-p" is not allowed; accepted for offcputime: -u\/--user-threads-only/],
    ['offcputime', ['--pid=1'], /not allowed/],
    ['offcputime', ['-m'], /--min-block-time needs a value/],
    ['offcputime', ['-m', '$(reboot)'], /accepted: a non-negative integer/],
    ['offcputime', ['--perf-max-stack-depth=500'], /up to 127/],
    ['offcputime', ['-u=1'], /takes no value/],
    ['tcpconnect', ['-P', '80,443'], ['--port=80,443']],
    ['tcpconnect', ['-P', '80;443'], /port numbers/],
    ['biosnoop', ['-d', 'nvme0n1'], ['--disk=nvme0n1']],
    ['biosnoop', ['-d', '../sda'], /block device name/],
    ['filelife', ['-v'], /filelife takes no options/],
    ['funclatency', ['-m', 'c:malloc'], ['--milliseconds', 'c:malloc']],
    ['funclatency', ['-m'], /funclatency needs a function/],
    ['funclatency', ['vfs_read;ls'], /function "vfs_read;ls" is not accepted/],
    ['nosuchtool', [], /unknown tool "nosuchtool"; accepted: offcputime/],
  ];
  for (const [name, args, expected] of cases) {
    const result = parseToolArgs(name, args);
    if (expected instanceof RegExp) {
      assert.ok(!result.ok, `${name} ${args.join(' ')} accepted`);
      assert.match(result.message, expected);
    } else {
      assert.deepEqual(result, { ok: true, argv: expected }, `${name} ${args.join(' ')}`);
    }
  }
});

test('every allow-listed tool and option exists in the installed libbpf-tools', needs('libbpf-tools'), () => {
  for (const name of TOOL_NAMES) {
    const binary = `/usr/sbin/${name}`;
    assert.ok(existsSync(binary), binary);
    const help = spawnSync(binary, ['--help'], { encoding: 'utf8' });
    const text = help.stdout + help.stderr;
    for (const option of (TOOLS as Record<string, ToolInfo>)[name]!.options) {
      assert.ok(text.includes(`--${option.long}`), `${name} has no --${option.long}`);
      if (option.short) assert.ok(text.includes(`-${option.short}, --${option.long}`), `${name}: -${option.short}`);
    }
  }
});

test('every bundled bpftrace script is shipped with bpftrace', needs('bpftrace'), () => {
  for (const name of BPFTRACE_SCRIPTS) assert.ok(existsSync(`/usr/sbin/${name}.bt`), `/usr/sbin/${name}.bt`);
});

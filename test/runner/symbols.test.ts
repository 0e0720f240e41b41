import assert from 'node:assert/strict';
import { test } from 'node:test';
import { executableMappings } from '../../src/runner/symbols.ts';

test('executable file mappings are listed once per file; anonymous, deleted and device mappings are not', () => {
  const maps = [
    '55d0c0a00000-55d0c0a01000 r--p 00000000 00:2f 1234 /workloads/hot',
    '55d0c0a01000-55d0c0a02000 r-xp 00001000 00:2f 1234 /workloads/hot',
    '7f1e2a028000-7f1e2a1bd000 r-xp 00028000 fe:01 5678 /usr/lib/x86_64-linux-gnu/libc.so.6',
    '7f1e2a300000-7f1e2a301000 r-xp 00000000 fe:01 5678 /usr/lib/x86_64-linux-gnu/libc.so.6',
    '7f1e2a400000-7f1e2a401000 r-xp 00000000 00:00 0 ',
    '7f1e2a500000-7f1e2a501000 r-xp 00000000 00:05 99 /memfd:jit (deleted)',
    '7f1e2a600000-7f1e2a601000 r-xp 00000000 00:2f 77 /opt/app/old.so (deleted)',
    '7fff0c1c5000-7fff0c1c7000 r-xp 00000000 00:00 0                          [vdso]',
    '7f1e2a700000-7f1e2a701000 r-xp 00000000 00:2f 88 /opt/my app/lib with spaces.so',
  ].join('\n');
  assert.deepEqual(executableMappings(maps), [
    { path: '/workloads/hot', device: '00:2f', inode: '1234' },
    { path: '/usr/lib/x86_64-linux-gnu/libc.so.6', device: 'fe:01', inode: '5678' },
    { path: '/opt/my app/lib with spaces.so', device: '00:2f', inode: '88' },
  ]);
});

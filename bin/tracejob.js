#!/usr/bin/env node
// The checkout runs its TypeScript directly (Node's type stripping), so the only thing that can go wrong
// before main.ts loads is an older Node on PATH: say which one is needed instead of a syntax error.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 24 || (major === 24 && minor < 11)) {
  console.error(
    `tracejob needs Node.js >= 24.11 (found ${process.version}). Run it through npm/npx in the checkout, which ` +
      `puts the pinned runtime from node_modules/.bin first on PATH, or install Node 24.`,
  );
  process.exit(1);
}
// Type-stripping and compiling our modules is most of a short command's start-up; Node caches the result on disk.
const { enableCompileCache } = await import('node:module');
enableCompileCache?.();
await import('../src/cli/main.ts');

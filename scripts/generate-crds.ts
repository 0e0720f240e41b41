// Writes the CRDs generated from src/api into crds/ and the chart. test/api/crd.test.ts fails when they are stale.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedCrdFiles } from '../src/api/crd.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
for (const { path, content } of generatedCrdFiles()) {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), content);
  console.log(`wrote ${path}`);
}

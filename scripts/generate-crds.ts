// Writes what the zod schemas in src/api generate: the CRDs (crds/ and the chart's copy) and the field tables of
// docs/reference.md. test/api/crd.test.ts fails when any of them is stale.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedCrdFiles } from '../src/api/crd.ts';
import { updateReference } from '../src/api/reference.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
for (const { path, content } of generatedCrdFiles()) {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), content);
  console.log(`wrote ${path}`);
}
const reference = join(root, 'docs', 'reference.md');
await writeFile(reference, updateReference(await readFile(reference, 'utf8')));
console.log('updated docs/reference.md');

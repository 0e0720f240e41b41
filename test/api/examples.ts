import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';

export const repoRoot = join(import.meta.dirname, '..', '..');

/** Every object of every file under examples/, with the file it came from. */
export function exampleObjects(): { file: string; obj: { kind: string } & Record<string, unknown> }[] {
  const dir = join(repoRoot, 'examples');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((file) =>
      loadAll(readFileSync(join(dir, file), 'utf8')).map((obj) => ({
        file,
        obj: obj as { kind: string } & Record<string, unknown>,
      })),
    );
}

/** A valid TraceJob to derive test cases from; `spec` replaces the default spec wholesale. */
export function traceJob(spec: Record<string, unknown> = {}, name = 'test'): Record<string, unknown> {
  return {
    apiVersion: 'tracejob.dev/v1alpha1',
    kind: 'TraceJob',
    metadata: { name, namespace: 'team-a' },
    spec: { target: { pod: 'web-0' }, tracer: { type: 'profile' }, ...spec },
  };
}

import { ResultManifestSchema, type ResultManifest } from '../runner/manifest.ts';

/** The result manifest in a termination message, or undefined when the message is something else (a log tail). */
export function parseTracerResult(message: string): ResultManifest | undefined {
  let json: unknown;
  try {
    json = JSON.parse(message);
  } catch {
    return undefined;
  }
  const parsed = ResultManifestSchema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

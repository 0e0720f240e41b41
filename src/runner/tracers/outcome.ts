import { RunnerError } from '../errors.ts';
import type { SuperviseResult } from '../supervise.ts';

/**
 * Judges a supervised tracer run: a tracer the runner stopped may exit non-zero (SIGINT), one that ended on its own with
 * an error failed. Returns notes for the manifest.
 */
export function checkRun(name: string, result: SuperviseResult, options: { allowExitCodes?: number[] } = {}): string[] {
  const notes: string[] = [];
  const ok = [0, ...(options.allowExitCodes ?? [])];
  if (result.stoppedBy === 'exited' && (result.exitCode === null || !ok.includes(result.exitCode))) {
    const how = result.exitCode === null ? `signal ${result.exitSignal}` : `exit code ${result.exitCode}`;
    throw new RunnerError('TracerFailed', `${name} failed (${how}): ${lastLines(result.stderrTail)}`);
  }
  if (result.killed) notes.push(`${name} ignored SIGINT and was killed; its output may be incomplete`);
  if (result.stoppedBy === 'targets-exited') notes.push('every target process exited before the end of the duration');
  if (result.stdoutTruncated) notes.push(`${name} output reached its size cap and was truncated`);
  return notes;
}

function lastLines(text: string, count = 6): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/RLIMIT_MEMLOCK/.test(l));
  return lines.slice(-count).join(' | ') || '(no error output)';
}

import { RE2JS } from 're2js';
import { RunnerError } from './errors.ts';
import type { TargetProcess } from './resolve.ts';

/** Selection of processes inside a container; every given field must match. */
export interface ProcessSelector {
  /** In-container PID (NSpid). */
  pid?: number;
  comm?: string;
  exe?: string;
  /** Regular expression over the command line, arguments joined by spaces. */
  cmdline?: string;
}

const maxPatternLength = 1024;

/**
 * Compiles a selector. The command-line pattern runs on RE2 (re2js): matching time is linear in the input, whatever the
 * pattern, so a hostile pattern cannot stall the runner; RE2 rejects backreferences and lookaround, which is reported
 * with the field name. Inputs are capped at 4096 bytes when processes are read.
 */
export function compileSelector(selector: ProcessSelector): (p: TargetProcess) => boolean {
  let pattern: ReturnType<typeof RE2JS.compile> | undefined;
  if (selector.cmdline !== undefined) {
    if (selector.cmdline.length > maxPatternLength) {
      throw new Error(
        `process.cmdline: pattern is ${selector.cmdline.length} characters; at most ${maxPatternLength} are accepted`,
      );
    }
    try {
      pattern = RE2JS.compile(selector.cmdline);
    } catch (err) {
      throw new Error(
        `process.cmdline: not an RE2 regular expression (${(err as Error).message}); RE2 syntax is accepted, ` +
          'without backreferences or lookaround',
        { cause: err },
      );
    }
  }
  return (p) =>
    (selector.pid === undefined || p.nsPid === selector.pid) &&
    (selector.comm === undefined || p.comm === selector.comm) &&
    (selector.exe === undefined || p.exe === selector.exe) &&
    (pattern === undefined || pattern.matcher(p.cmdline.join(' ')).find());
}

/** Applies a selector; when nothing matches, the error lists what was there so the user can correct the filter. */
export function selectProcesses(processes: TargetProcess[], selector: ProcessSelector | undefined): TargetProcess[] {
  if (!selector || Object.values(selector).every((v) => v === undefined)) return processes;
  const matches = processes.filter(compileSelector(selector));
  if (matches.length > 0) return matches;
  const listed = processes
    .slice(0, 10)
    .map(
      (p) =>
        `pid ${p.nsPid} comm ${JSON.stringify(p.comm)} exe ${JSON.stringify(p.exe)} cmdline ${JSON.stringify(p.cmdline.join(' ').slice(0, 80))}`,
    )
    .join('; ');
  const more = processes.length > 10 ? ` and ${processes.length - 10} more` : '';
  throw new RunnerError(
    'NoMatchingProcess',
    `process: no process matches ${JSON.stringify(selector)}. The container has: ${listed}${more}`,
  );
}

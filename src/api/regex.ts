import { RE2JS } from 're2js';

/**
 * The runner matches process command lines with RE2 (re2js), whose matching time is linear in the input whatever the
 * pattern, so a hostile pattern cannot stall it. Admission therefore only has to bound the pattern's size and make sure
 * RE2 accepts it (no backreferences or lookarounds, repeat counts up to 1000, nested repeats bounded).
 */
export const MAX_PATTERN_LENGTH = 256;

/** Returns why the pattern is refused, or undefined when it is accepted. */
export function regexProblem(source: string): string | undefined {
  if (source.length > MAX_PATTERN_LENGTH) {
    return `is ${source.length} characters long; accepted: at most ${MAX_PATTERN_LENGTH}`;
  }
  try {
    RE2JS.compile(source);
  } catch (err) {
    return `is not an RE2 regular expression (${(err as Error).message}); accepted: RE2 syntax, without backreferences or lookarounds`;
  }
  return undefined;
}

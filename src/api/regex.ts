/**
 * Bounds the cost of a user's regular expression before any process matches it. JavaScript's backtracking engine
 * can take exponential time on patterns such as `(a+)+$` or `(a|a)*`; what makes them slow is a repeated group that
 * itself repeats or alternates, a backreference, or a lookaround. Refusing those keeps matching linear in practice while
 * leaving everything a process filter needs (anchors, classes, alternation, single-level repetition).
 */
export const MAX_PATTERN_LENGTH = 256;

/** Returns why the pattern is refused, or undefined when it is accepted. */
export function regexProblem(source: string): string | undefined {
  if (source.length > MAX_PATTERN_LENGTH)
    return `is ${source.length} characters long; accepted: at most ${MAX_PATTERN_LENGTH}`;
  try {
    new RegExp(source, 'u');
  } catch (err) {
    return `is not a valid regular expression (${(err as Error).message})`;
  }
  // One frame per open group: whether anything inside repeats or alternates.
  const groups: { risky: boolean }[] = [{ risky: false }];
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\') {
      const next = source[i + 1] ?? '';
      if (!inClass && (/[1-9]/.test(next) || next === 'k'))
        return 'uses a backreference; accepted: patterns without them';
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      continue;
    }
    const top = groups[groups.length - 1]!;
    if (c === '(') {
      if (/^\?<?[=!]/.test(source.slice(i + 1, i + 4))) return 'uses a lookaround; accepted: patterns without them';
      groups.push({ risky: false });
      continue;
    }
    if (c === '|') {
      top.risky = true;
      continue;
    }
    if (c === ')') {
      const closed = groups.pop()!;
      const outer = groups[groups.length - 1]!;
      if (closed.risky && repeats(source, i + 1)) {
        return 'repeats a group that itself repeats or alternates, which can take exponential time; accepted: at most one level of repetition, for example "(ab)+" or "a+b*"';
      }
      if (closed.risky || repeats(source, i + 1)) outer.risky = true;
      continue;
    }
    if (repeats(source, i)) top.risky = true;
  }
  return undefined;
}

/** Whether a quantifier that allows more than one repetition starts at `at`. */
function repeats(source: string, at: number): boolean {
  const c = source[at];
  if (c === '*' || c === '+') return true;
  if (c !== '{') return false;
  const bounds = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(at));
  if (!bounds) return false;
  if (bounds[2] === undefined) return Number(bounds[1]) > 1;
  return bounds[3] === '' || Number(bounds[3]) > 1;
}

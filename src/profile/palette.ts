/** Colour schemes, named as flamegraph.pl names them so users can keep their habits. */
export const paletteNames = [
  'hot',
  'mem',
  'io',
  'wakeup',
  'chain',
  'java',
  'js',
  'perl',
  'red',
  'green',
  'blue',
  'aqua',
  'yellow',
  'purple',
  'orange',
] as const;
export type Palette = (typeof paletteNames)[number];

export function isPalette(name: string): name is Palette {
  return (paletteNames as readonly string[]).includes(name);
}

type Hue = 'red' | 'green' | 'blue' | 'aqua' | 'yellow' | 'purple' | 'orange';

/**
 * Two stable pseudo-random numbers in [0,1) from a frame name (FNV-1a), so a function keeps its colour across
 * graphs, renders and machines; annotations (`_[k]`...) are ignored so `foo` and `foo_[k]` look alike.
 */
function nameShades(name: string): [number, number] {
  const base = name.replace(/_\[[kijw]\]$/, '');
  let hash = 0x811c9dc5;
  for (let i = 0; i < base.length; i++) {
    hash ^= base.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash >>>= 0;
  return [(hash & 0xffff) / 0x10000, (hash >>> 16) / 0x10000];
}

function shade(hue: Hue, v1: number, v2: number): [number, number, number] {
  switch (hue) {
    case 'red':
      return [200 + 55 * v1, 50 + 80 * v2, 50 + 80 * v2];
    case 'green':
      return [50 + 60 * v2, 190 + 60 * v1, 50 + 60 * v2];
    case 'blue':
      return [80 + 60 * v2, 80 + 60 * v2, 200 + 55 * v1];
    case 'aqua':
      return [50 + 60 * v2, 160 + 60 * v1, 160 + 60 * v1];
    case 'yellow':
      return [175 + 55 * v1, 175 + 55 * v1, 40 + 30 * v2];
    case 'purple':
      return [180 + 60 * v1, 80 + 60 * v2, 180 + 60 * v1];
    case 'orange':
      return [200 + 55 * v1, 100 + 70 * v2, 0 + 30 * v2];
  }
}

/** Which hue a frame of a language runtime gets: kernel orange, inlined aqua, JIT green, native C++ yellow, C red. */
function runtimeHue(palette: 'java' | 'js' | 'perl', name: string): Hue {
  if (name.endsWith('_[k]')) return 'orange';
  if (name.endsWith('_[i]')) return 'aqua';
  if (name.endsWith('_[j]')) return 'green';
  switch (palette) {
    case 'java':
      if (/^L?(java|javax|jdk|sun|com|org|net|io|kotlin|scala)[/.]/.test(name) || name.includes('/')) return 'green';
      if (name.includes('::')) return 'yellow';
      return 'red';
    case 'js':
      // V8's perf map names: "JS:*fn file:line" (optimised), "JS:~fn" or "LazyCompile:~fn" (interpreted), builtins.
      if (/^(JS|LazyCompile|Function|Script|InterpretedFunction):[*^]/.test(name)) return 'green';
      if (/^(JS|LazyCompile|Function|Script|InterpretedFunction):~/.test(name)) return 'aqua';
      if (/\.(m?js|cjs|ts)\b/.test(name)) return 'green';
      if (name.startsWith('Builtin:') || name.startsWith('Bytecodes')) return 'purple';
      if (name.includes('::')) return 'yellow';
      return 'red';
    case 'perl':
      if (name.includes('::') || /\.p[lm]\b/.test(name)) return 'green';
      return 'red';
  }
}

export function frameColour(palette: Palette, name: string): string {
  const [v1, v2] = nameShades(name);
  let rgb: [number, number, number];
  switch (palette) {
    case 'hot':
      rgb = [205 + 50 * v2, 230 * v1, 55 * v2];
      break;
    case 'mem':
      rgb = [0, 190 + 50 * v2, 210 * v1];
      break;
    case 'io':
      rgb = [80 + 60 * v1, 80 + 60 * v1, 190 + 55 * v2];
      break;
    case 'wakeup':
      rgb = shade('aqua', v1, v2);
      break;
    case 'chain':
      rgb = name.endsWith('_[w]') ? shade('aqua', v1, v2) : shade('blue', v1, v2);
      break;
    case 'java':
    case 'js':
    case 'perl':
      rgb = shade(runtimeHue(palette, name), v1, v2);
      break;
    default:
      rgb = shade(palette, v1, v2);
  }
  return `rgb(${Math.round(rgb[0])},${Math.round(rgb[1])},${Math.round(rgb[2])})`;
}

/** Differential colour: red where the second profile grew, blue where it shrank, saturation by size of change. */
export function diffColour(delta: number, maxAbsDelta: number): string {
  if (delta === 0 || maxAbsDelta === 0) return 'rgb(250,250,250)';
  const light = Math.round(210 * (1 - Math.min(1, Math.abs(delta) / maxAbsDelta)));
  return delta > 0 ? `rgb(255,${light},${light})` : `rgb(${light},${light},255)`;
}

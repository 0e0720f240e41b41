import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { Function as PprofFunction, Location, Line, Profile, Sample, StringTable, ValueType } from 'pprof-format';
import type { Stacks } from './stacks.ts';

const gzipAsync = promisify(gzip);

export interface PprofOptions {
  /** Sample type and unit (default samples/count); e.g. cpu/nanoseconds when counts are periods. */
  sampleType?: string;
  unit?: string;
  /** Sampling period, recorded so `go tool pprof` can scale (default 1). */
  period?: number;
  /** Profile duration in nanoseconds, if known. */
  durationNanos?: number;
}

/**
 * A gzipped pprof profile (what `go tool pprof` reads): one location and function per distinct frame name, one sample
 * per unique stack with its count. pprof wants integer values, so fractional counts are rounded.
 */
export async function toPprof(stacks: Stacks, options: PprofOptions = {}): Promise<Buffer> {
  const strings = new StringTable();
  const sampleType = new ValueType({
    type: strings.dedup(options.sampleType ?? 'samples'),
    unit: strings.dedup(options.unit ?? 'count'),
  });
  const functions: PprofFunction[] = [];
  const locations: Location[] = [];
  const locationOf = new Map<string, number>();
  const samples: Sample[] = [];
  for (const [stack, count] of stacks) {
    const value = Math.round(count);
    if (value <= 0) continue;
    const frames = stack.split(';');
    const locationId: number[] = [];
    // pprof lists locations leaf first.
    for (let i = frames.length - 1; i >= 0; i--) {
      const name = frames[i];
      let id = locationOf.get(name);
      if (id === undefined) {
        id = locations.length + 1;
        locationOf.set(name, id);
        const nameIndex = strings.dedup(name);
        functions.push(new PprofFunction({ id, name: nameIndex, systemName: nameIndex }));
        locations.push(new Location({ id, line: [new Line({ functionId: id })] }));
      }
      locationId.push(id);
    }
    samples.push(new Sample({ locationId, value: [value] }));
  }
  const profile = new Profile({
    sampleType: [sampleType],
    sample: samples,
    location: locations,
    function: functions,
    stringTable: strings,
    periodType: sampleType,
    period: options.period ?? 1,
    durationNanos: options.durationNanos ?? 0,
  });
  return gzipAsync(profile.encode());
}

import { open, readFile, readlink, type FileHandle } from 'node:fs/promises';

/**
 * Names user-space addresses of a process from the ELF symbol tables of its own files, opened through
 * /proc/PID/root: tools that open the paths of /proc/PID/maps in their own mount namespace (libbpf-tools) find a
 * container's files missing there, or worse, the host's different copy at the same path.
 */
export class UserSymbolizer {
  private readonly proc: string;
  private readonly maps = new Map<number, Promise<Mapping[]>>();
  private readonly files = new Map<string, Promise<ElfSymbols | undefined>>();
  private selfMountNs: Promise<string> | undefined;

  constructor(options: { proc?: string } = {}) {
    this.proc = options.proc ?? '/proc';
  }

  /** True when the process sees other files than we do at the same paths (another mount namespace). */
  async foreignMounts(pid: number): Promise<boolean> {
    this.selfMountNs ??= readlink(`${this.proc}/self/ns/mnt`).catch(() => '');
    const ns = await readlink(`${this.proc}/${pid}/ns/mnt`).catch(() => undefined);
    return ns !== undefined && ns !== (await this.selfMountNs);
  }

  /** The function containing `address` in the process, or undefined (process gone, no symbol, stripped file). */
  async symbolize(pid: number, address: bigint): Promise<string | undefined> {
    let mappings = this.maps.get(pid);
    if (!mappings) {
      mappings = readFile(`${this.proc}/${pid}/maps`, 'utf8').then(parseMaps, () => []);
      this.maps.set(pid, mappings);
    }
    const mapping = (await mappings).find((m) => address >= m.start && address < m.end);
    if (!mapping) return undefined;
    const key = `${mapping.device}:${mapping.inode}`;
    let symbols = this.files.get(key);
    if (!symbols) {
      symbols = readElfSymbols(`${this.proc}/${pid}/root${mapping.path}`).catch(() => undefined);
      this.files.set(key, symbols);
    }
    return (await symbols)?.lookup(address - mapping.start + mapping.offset);
  }
}

interface Mapping {
  start: bigint;
  end: bigint;
  offset: bigint;
  /** `r-xp` and the like. */
  perms: string;
  device: string;
  inode: string;
  path: string;
}

/** File-backed mappings of /proc/PID/maps: `start-end perms offset dev inode path`. */
export function parseMaps(text: string): Mapping[] {
  const mappings: Mapping[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) (\S+) (\d+)\s+(\/.*)$/.exec(line);
    if (!m || m[6] === '0' || m[7]!.endsWith(' (deleted)')) continue;
    mappings.push({
      start: BigInt(`0x${m[1]}`),
      end: BigInt(`0x${m[2]}`),
      offset: BigInt(`0x${m[4]}`),
      perms: m[3]!,
      device: m[5]!,
      inode: m[6]!,
      path: m[7]!,
    });
  }
  return mappings;
}

interface ElfSymbols {
  /** The function at this file offset (as mapped), translated to its virtual address through the load segments. */
  lookup(fileOffset: bigint): string | undefined;
}

const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const PT_LOAD = 1;

/** Function symbols of a 64-bit little-endian ELF file (.symtab, else .dynsym), read section by section. */
async function readElfSymbols(path: string): Promise<ElfSymbols> {
  const file = await open(path, 'r');
  try {
    const header = await readAt(file, 0n, 64);
    if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2 || header[5] !== 1) {
      throw new Error(`${path}: not a 64-bit little-endian ELF file`);
    }
    const phoff = header.readBigUInt64LE(0x20);
    const shoff = header.readBigUInt64LE(0x28);
    const phentsize = header.readUInt16LE(0x36);
    const phnum = header.readUInt16LE(0x38);
    const shentsize = header.readUInt16LE(0x3a);
    const shnum = header.readUInt16LE(0x3c);

    const segments: { offset: bigint; vaddr: bigint; size: bigint }[] = [];
    const phdrs = await readAt(file, phoff, phentsize * phnum);
    for (let i = 0; i < phnum; i++) {
      const at = i * phentsize;
      if (phdrs.readUInt32LE(at) !== PT_LOAD) continue;
      segments.push({
        offset: phdrs.readBigUInt64LE(at + 8),
        vaddr: phdrs.readBigUInt64LE(at + 16),
        size: phdrs.readBigUInt64LE(at + 32),
      });
    }

    const sections = await readAt(file, shoff, shentsize * shnum);
    const section = (i: number) => ({
      type: sections.readUInt32LE(i * shentsize + 4),
      offset: sections.readBigUInt64LE(i * shentsize + 24),
      size: sections.readBigUInt64LE(i * shentsize + 32),
      link: sections.readUInt32LE(i * shentsize + 40),
    });
    const all = Array.from({ length: shnum }, (_, i) => section(i));
    const table = all.find((s) => s.type === SHT_SYMTAB) ?? all.find((s) => s.type === SHT_DYNSYM);
    const functions: { address: bigint; size: bigint; name: string }[] = [];
    if (table && table.link < shnum) {
      const strings = all[table.link]!;
      const [entries, names] = await Promise.all([
        readAt(file, table.offset, Number(table.size)),
        readAt(file, strings.offset, Number(strings.size)),
      ]);
      for (let at = 0; at + 24 <= entries.length; at += 24) {
        const kind = entries[at + 4]! & 0xf;
        const address = entries.readBigUInt64LE(at + 8);
        if ((kind !== STT_FUNC && kind !== STT_GNU_IFUNC) || address === 0n) continue;
        const nameAt = entries.readUInt32LE(at);
        const name = names.toString('utf8', nameAt, names.indexOf(0, nameAt));
        if (name) functions.push({ address, size: entries.readBigUInt64LE(at + 16), name });
      }
    }
    functions.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));

    return {
      lookup(fileOffset) {
        const segment = segments.find((s) => fileOffset >= s.offset && fileOffset < s.offset + s.size);
        if (!segment) return undefined;
        const address = fileOffset - segment.offset + segment.vaddr;
        let low = 0;
        let high = functions.length - 1;
        let found = -1;
        while (low <= high) {
          const middle = (low + high) >> 1;
          if (functions[middle]!.address <= address) {
            found = middle;
            low = middle + 1;
          } else high = middle - 1;
        }
        const fn = functions[found];
        if (!fn || (fn.size > 0n && address >= fn.address + fn.size)) return undefined;
        return fn.name;
      },
    };
  } finally {
    await file.close();
  }
}

async function readAt(file: FileHandle, position: bigint, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await file.read(buffer, 0, length, Number(position));
  if (bytesRead < length) throw new Error('truncated ELF file');
  return buffer;
}

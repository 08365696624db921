// Bounds-checked access to a guest's linear memory: every pointer/length pair from a guest passes through here.

export interface MemoryLike {
  readonly buffer: ArrayBuffer;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf16 = new TextDecoder('utf-16le', { fatal: false });

export class GuestMemory {
  memory: MemoryLike | null = null;

  /** The bytes [ptr, ptr+len) as a view, or null when they do not lie inside memory. */
  view(ptr: number, len: number): Uint8Array | null {
    const memory = this.memory;
    if (memory === null) return null;
    const start = ptr >>> 0;
    const length = len >>> 0;
    const buffer = memory.buffer;
    if (start + length > buffer.byteLength) return null;
    return new Uint8Array(buffer, start, length);
  }

  /** A copy of the bytes, safe to keep after the guest's memory grows or changes. */
  copy(ptr: number, len: number): Uint8Array | null {
    const v = this.view(ptr, len);
    return v === null ? null : v.slice();
  }

  /** UTF-8 text, or null when out of bounds; undefined when the bytes are not valid UTF-8. */
  utf8(ptr: number, len: number): string | null | undefined {
    const v = this.view(ptr, len);
    if (v === null) return null;
    try {
      return utf8.decode(v);
    } catch {
      return undefined;
    }
  }

  /** An AssemblyScript string: UTF-16LE, its byte length stored in the 4 bytes before the pointer. */
  assemblyScriptString(ptr: number, maxBytes = 64 * 1024): string | null {
    const p = ptr >>> 0;
    if (p === 0 || p < 4) return null;
    const header = this.view(p - 4, 4);
    if (header === null) return null;
    const byteLength = (header[0]! | (header[1]! << 8) | (header[2]! << 16) | (header[3]! << 24)) >>> 0;
    const v = this.view(p, Math.min(byteLength, maxBytes) & ~1);
    return v === null ? null : utf16.decode(v);
  }

  get byteLength(): number {
    return this.memory === null ? 0 : this.memory.buffer.byteLength;
  }
}

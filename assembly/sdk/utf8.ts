// Compares UTF-8 bytes in memory with an AssemblyScript (UTF-16) string without decoding or allocating.

/** True when the `len` UTF-8 bytes at `ptr` spell exactly `s`. */
export function equalsUtf8(ptr: usize, len: i32, s: string): bool {
  const units = s.length;
  // UTF-8 never needs fewer bytes than UTF-16 code units, and needs exactly as many only for ASCII.
  if (units > len) return false;
  const sp = changetype<usize>(s);
  if (units == len) {
    for (let i = 0; i < units; i++) {
      const c = <u32>load<u16>(sp + (<usize>i << 1));
      if (c >= 0x80 || c != <u32>load<u8>(ptr + <usize>i)) return false;
    }
    return true;
  }
  return equalsNonAscii(ptr, len, s);
}

// @ts-ignore: decorator
@inline
function equalsNonAscii(ptr: usize, len: i32, s: string): bool {
  if (String.UTF8.byteLength(s) != len) return false;
  const encoded = String.UTF8.encode(s, false, String.UTF8.ErrorMode.REPLACE);
  return memory.compare(changetype<usize>(encoded), ptr, <usize>len) == 0;
}

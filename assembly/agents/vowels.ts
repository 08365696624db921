// Agent `vowels`: counts the ASCII vowels of `{text}`, like Extism's count_vowels plugin (the benchmark's anchor).
import { handle, Input, Kind, log, output, Writer } from "../sdk";
export { sandbox_abi_version, sandbox_alloc, sandbox_handle } from "../sdk";

// Reused on every run, so a run allocates nothing.
const out = new Writer(64);

// Like the Extism plugin's `total` variable, a running sum over all runs of this instance.
let total: i64 = 0;

function countVowels(ptr: usize, len: i32): i32 {
  let count = 0;
  for (let p = ptr, end = ptr + <usize>len; p < end; p++) {
    // Setting bit 5 lowercases ASCII letters and maps no other byte onto a lowercase vowel.
    const c = load<u8>(p) | 0x20;
    if (c == 0x61 || c == 0x65 || c == 0x69 || c == 0x6f || c == 0x75) count++;
  }
  return count;
}

handle((input: Input): i32 => {
  // Accept `{text: "..."}`, or a bare string as Extism's plugin does.
  let ptr: usize = 0;
  let len: i32 = -1;
  const r = input.reader();
  if (r.peekKind() == Kind.Str) {
    if (r.readStrRef()) {
      ptr = r.refPtr;
      len = r.refLen;
    }
  } else {
    const fields = input.fields();
    if (fields !== null && fields.getStrRef("text")) {
      ptr = fields.value.refPtr;
      len = fields.value.refLen;
    }
  }
  if (len < 0) {
    log.error("vowels: input must be {text: string}");
    return 1;
  }
  const count = countVowels(ptr, len);
  total += count;
  output(out.reset().map(3).key("count").int(count).key("total").int(total).key("vowels").str("aeiouAEIOU"));
  return 0;
});

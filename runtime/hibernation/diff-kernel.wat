;; The word scan of runtime/hibernation/diff-kernel.ts: which 32-bit words of two byte ranges differ, 16 bytes at a time.
;; Compiled bytes are embedded in diff-kernel.ts (test/unit/diff-kernel.test.ts checks they match this source).
(module
  (memory (export "memory") 1)
  ;; Compares [a, a + bytes) with [b, b + bytes) (bytes a multiple of 16) and writes, as i32s from `out`, the index
  ;; (from a, in words) of every word that differs, in increasing order. Returns how many it wrote.
  (func (export "scan") (param $a i32) (param $b i32) (param $bytes i32) (param $out i32) (result i32)
    (local $i i32) (local $j i32) (local $n i32)
    (block $done
      (loop $chunk
        (br_if $done (i32.ge_u (local.get $i) (local.get $bytes)))
        ;; Most 16-byte chunks are equal: one vector compare each.
        (if (v128.any_true
              (v128.xor
                (v128.load (i32.add (local.get $a) (local.get $i)))
                (v128.load (i32.add (local.get $b) (local.get $i)))))
          (then
            (local.set $j (local.get $i))
            (loop $word
              (if (i32.ne
                    (i32.load (i32.add (local.get $a) (local.get $j)))
                    (i32.load (i32.add (local.get $b) (local.get $j))))
                (then
                  (i32.store (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2)))
                    (i32.shr_u (local.get $j) (i32.const 2)))
                  (local.set $n (i32.add (local.get $n) (i32.const 1)))))
              (local.set $j (i32.add (local.get $j) (i32.const 4)))
              (br_if $word (i32.lt_u (local.get $j) (i32.add (local.get $i) (i32.const 16)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $chunk)))
    (local.get $n)))

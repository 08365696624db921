;; A component agent for world `agent-with-init` (wit/agent.wit), written against the canonical ABI by hand.
;; It echoes its input, emits it as event `echo.seen`, logs, reads the clock and random bytes, and fails on request:
;; input "fail" returns err, input "garbage" returns bytes that are not MessagePack. Without init it refuses to run.
;; world: agent-with-init   (read by scripts/build-agents.mjs: the world componentEmbed targets)
(module
  (import "sandbox:agent/host@1.0.0" "emit" (func $emit (param i32 i32 i32 i32) (result i32)))
  (import "sandbox:agent/host@1.0.0" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "sandbox:agent/host@1.0.0" "now" (func $now (result i64)))
  (import "sandbox:agent/host@1.0.0" "random" (func $random (param i32 i32)))

  (memory (export "memory") 1)

  ;; 0..12: the return area of `handle` and `init` (discriminant, then a pointer and a length)
  (data (i32.const 16) "echo.seen")
  (data (i32.const 32) "asked to fail")
  (data (i32.const 48) "not initialised")
  (data (i32.const 64) "echo handled the input")
  (data (i32.const 96) "\a4fail")
  (data (i32.const 104) "\a7garbage")
  (data (i32.const 112) "\c1")
  ;; 120..128: where `random` writes its list (pointer, length)
  (data (i32.const 128) "clock and random work")

  (global $heap_base i32 (i32.const 1024))
  (global $bump (mut i32) (i32.const 1024))
  (global $ready (mut i32) (i32.const 0))

  (func $cabi_realloc (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
    (local $p i32) (local $end i32) (local $have i32)
    (local.set $p
      (i32.and
        (i32.add (global.get $bump) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (local.set $end (i32.add (local.get $p) (local.get $size)))
    (local.set $have (i32.shl (memory.size) (i32.const 16)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow (i32.shr_u (i32.add (i32.sub (local.get $end) (local.get $have)) (i32.const 65535)) (i32.const 16)))
              (i32.const -1))
          (then unreachable))))
    (global.set $bump (local.get $end))
    (if (local.get $old)
      (then (memory.copy (local.get $p) (local.get $old) (local.get $old_size))))
    (local.get $p))

  (func $equal (param $a i32) (param $b i32) (param $len i32) (result i32)
    (block $differ
      (loop $next
        (if (i32.eqz (local.get $len)) (then (return (i32.const 1))))
        (br_if $differ (i32.ne (i32.load8_u (local.get $a)) (i32.load8_u (local.get $b))))
        (local.set $a (i32.add (local.get $a) (i32.const 1)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (local.set $len (i32.sub (local.get $len) (i32.const 1)))
        (br $next)))
    (i32.const 0))

  ;; result<list<u8>, string> in the return area: tag 0 ok / 1 err, then (pointer, length)
  (func $answer (param $tag i32) (param $ptr i32) (param $len i32) (result i32)
    (i32.store8 (i32.const 0) (local.get $tag))
    (i32.store (i32.const 4) (local.get $ptr))
    (i32.store (i32.const 8) (local.get $len))
    (i32.const 0))

  (func (export "init") (result i32)
    (global.set $ready (i32.const 1))
    (i32.store8 (i32.const 0) (i32.const 0))
    (i32.const 0))

  (func (export "handle") (param $ptr i32) (param $len i32) (result i32)
    (if (i32.eqz (global.get $ready))
      (then (return (call $answer (i32.const 1) (i32.const 48) (i32.const 15)))))
    (drop (call $log (i32.const 1) (i32.const 64) (i32.const 22)))
    (if (i32.and (i32.eq (local.get $len) (i32.const 5)) (call $equal (local.get $ptr) (i32.const 96) (i32.const 5)))
      (then (return (call $answer (i32.const 1) (i32.const 32) (i32.const 13)))))
    (if (i32.and (i32.eq (local.get $len) (i32.const 8)) (call $equal (local.get $ptr) (i32.const 104) (i32.const 8)))
      (then (return (call $answer (i32.const 0) (i32.const 112) (i32.const 1)))))
    (drop (call $emit (i32.const 16) (i32.const 9) (local.get $ptr) (local.get $len)))
    (call $random (i32.const 8) (i32.const 120))
    (if (i32.and (i64.gt_u (call $now) (i64.const 0)) (i32.eq (i32.load (i32.const 124)) (i32.const 8)))
      (then (drop (call $log (i32.const 0) (i32.const 128) (i32.const 21)))))
    (call $answer (i32.const 0) (local.get $ptr) (local.get $len)))

  ;; Everything a run allocated is garbage once the host has read the answer.
  (func (export "cabi_post_handle") (param i32)
    (global.set $bump (global.get $heap_base))))

;; A hostile component agent (world `agent`): its handler grows memory one page at a time until growth fails, then traps.
;; world: agent   (read by scripts/build-agents.mjs: the world componentEmbed targets)
(module
  (memory (export "memory") 1)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (i32.const 1024))
  (func (export "handle") (param i32 i32) (result i32)
    (loop $more
      (br_if $more (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    unreachable))

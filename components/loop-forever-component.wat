;; A hostile component agent (world `agent`): its handler never returns. Fuel stops it; with fuel off, the wall clock.
;; world: agent   (read by scripts/build-agents.mjs: the world componentEmbed targets)
(module
  (memory (export "memory") 1)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (i32.const 1024))
  (func (export "handle") (param i32 i32) (result i32)
    (loop $forever (br $forever))
    (i32.const 0)))

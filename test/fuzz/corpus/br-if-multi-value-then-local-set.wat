;; fuzz-signatures: [{"params":["i32"],"results":["i32"]},{"params":[],"results":["i64","f64"]}]
;; Issue 12 defect 6: after a br_if to a block with two results, the branch values dropped and a local.set of the
;; value below them: the emulator moved that assignment into the taken branch (unmetered runs only).
(module
  (memory (export "memory") 1 4)
  (global (export "g0") (mut i32) (i32.const 7))
  (global (export "g1") (mut i64) (i64.const -3))
  (global (export "g2") (mut f32) (f32.const 1.5))
  (global (export "g3") (mut f64) (f64.const -2.25))
  (data (i32.const 0) "\05\00\00\00\06\00\00\00")
  (func (export "f0") (param i32) (result i32) (local i32)
    (local.set 1 (i32.const 9))
    (block (result i32 i32)
      (i32.load (i32.const 0)) (i32.load (i32.const 4)) (i32.const 7) (i32.const 8)
      (br_if 0 (local.get 0))
      (drop) (drop) (local.set 1) (i32.const 3))
    (drop) (drop) (local.get 1))
  (func (export "f1") (result i64 f64) (local i64 f64)
    (local.set 0 (i64.const -1))
    (block (result i64 f64)
      (i64.load (i32.const 0)) (f64.load (i32.const 8)) (i64.const 5) (f64.const 0.5)
      (br_if 0 (i32.load (i32.const 0)))
      (drop) (drop) (local.set 1) (local.set 0) (local.get 0) (local.get 1))
    (drop) (drop) (i64.store (i32.const 32) (local.get 0)) (local.get 0) (local.get 1)))

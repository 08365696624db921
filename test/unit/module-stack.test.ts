// Stack depth: the prologue counts frames, traps deterministically at the limit, and every call hands the callee its caller's depth.

import { describe, expect, it } from 'vitest';
import { load, wat } from './module-harness.ts';

const RECURSE = `(module
  (global $max (export "max") (mut i32) (i32.const 0))
  (func $down (export "down") (param $d i32) (result i32)
    (global.set $max (local.get $d))
    (if (result i32) (i32.eqz (local.get $d)) (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $down (i32.sub (local.get $d) (i32.const 1)))))))
  (func $forever (export "forever") (param $d i32)
    (global.set $max (local.get $d))
    (call $forever (i32.add (local.get $d) (i32.const 1)))))`;

describe('stack depth', () => {
  it('traps with the stack flag at exactly the limit', async () => {
    const m = load(await wat(RECURSE));
    const r = m.run('forever', [1], { depth: 1000 });
    expect(r.status).toBe('stack-overflow');
    expect(r.flags).toBe(2);
    expect(r.error).toBeInstanceOf(WebAssembly.RuntimeError);
    // frames 1..1000 ran; the 1001st was refused in its prologue
    expect((m.exports['max'] as WebAssembly.Global).value).toBe(1000);
  });

  it('allows recursion up to the limit', async () => {
    const m = load(await wat(RECURSE));
    // down(d) uses d + 1 frames
    expect(m.run('down', [999], { depth: 1000 }).result).toBe(999);
    expect(m.run('down', [1000], { depth: 1000 }).status).toBe('stack-overflow');
  });

  it("gives every callee its caller's depth, whatever earlier calls and return paths did", async () => {
    const m = load(
      await wat(`(module
        (func $down (param $d i32) (result i32)
          (if (result i32) (i32.eqz (local.get $d)) (then (i32.const 0))
            (else (i32.add (i32.const 1) (call $down (i32.sub (local.get $d) (i32.const 1)))))))
        (func $a (param i32) (result i32) (if (local.get 0) (then (return (call $down (i32.const 40))))) (call $down (i32.const 45)))
        (func $b (param i32) (result i32 i32) (br_if 0 (call $down (i32.const 3)) (i32.const 4) (local.get 0)) (drop) (drop) (i32.const 5) (i32.const 6))
        (func $c (param i32) (result i32) (block (result i32) (br_table 0 1 (call $down (i32.const 7)) (local.get 0))) (i32.const 1) (i32.add))
        (func (export "all") (result i32)
          (call $a (i32.const 0)) (call $a (i32.const 1)) (i32.add)
          (call $b (i32.const 0)) (i32.add) (i32.add)
          (call $b (i32.const 1)) (i32.add) (i32.add)
          (call $c (i32.const 0)) (i32.add)
          (call $c (i32.const 1)) (i32.add)
          (call $down (i32.const 46)) (i32.add)))`),
    );
    // all -> a -> down(45) is 48 frames; sibling calls must not add up
    const r = m.run('all', [], { depth: 48 });
    expect(r.status).toBe('ok');
    expect(r.result).toBe(45 + 40 + 5 + 6 + 3 + 4 + 8 + 7 + 46);
    expect(m.run('all', [], { depth: 47 }).status).toBe('stack-overflow');
  });

  it('stops deep recursion well before the engine would', async () => {
    const m = load(await wat(RECURSE));
    const r = m.run('forever', [0], { depth: 10_000 });
    expect(r.status).toBe('stack-overflow');
  });
});

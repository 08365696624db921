// Fuel metering: exact counts on small loops, proportional bulk charges, memory.grow, calls and start functions.

import { describe, expect, it } from 'vitest';
import { MEMORY_GROW_PAGE_COST } from '../../runtime/module/fuel-costs.ts';
import { load, wat } from './module-harness.ts';

const COUNT = `(module
  (func (export "count") (param $n i32) (result i32)
    (local $i i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $i)))`;

describe('fuel', () => {
  it('charges exactly the cost table on a small loop', async () => {
    const m = load(await wat(COUNT));
    // loop header (local.get, local.get, i32.ge_u, br_if) runs n+1 times; the body (local.get, i32.const,
    // i32.add, local.set, br) n times; the tail local.get once. block/loop/end cost nothing.
    for (const n of [0, 1, 2, 10, 1000]) {
      const r = m.run('count', [n]);
      expect(r.status).toBe('ok');
      expect(r.result).toBe(n);
      expect(r.fuelUsed).toBe(9 * n + 5);
    }
  });

  it('runs out at exactly the limit', async () => {
    const m = load(await wat(COUNT));
    for (const n of [0, 3, 100]) {
      const need = 9 * n + 5;
      expect(m.run('count', [n], { fuel: need }).status).toBe('ok');
      const short = m.run('count', [n], { fuel: need - 1 });
      expect(short.status).toBe('out-of-fuel');
      expect(short.fuelUsed).toBe(need - 1);
    }
  });

  it('stays exact when a then-branch is charged ahead (if-style loops, diamonds)', async () => {
    const m = load(
      await wat(`(module
        (func (export "asloop") (param $n i32) (result i32) (local $i i32) (local $s i32)
          (loop $l
            (if (i32.lt_s (local.get $i) (local.get $n))
              (then
                (local.set $s (i32.add (local.get $s) (local.get $i)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $l))))
          (local.get $s))
        (func (export "diamond") (param $x i32) (result i32)
          (if (result i32) (local.get $x) (then (i32.add (i32.const 1) (i32.const 2))) (else (i32.const 7)))))`),
    );
    // header (local.get, local.get, i32.lt_s, if) n+1 times, then-branch (9) n times, tail 1
    for (const n of [0, 1, 5, 100]) {
      const need = 13 * n + 5;
      const r = m.run('asloop', [n]);
      expect(r.fuelUsed).toBe(need);
      expect(m.run('asloop', [n], { fuel: need }).status).toBe('ok');
      expect(m.run('asloop', [n], { fuel: need - 1 }).status).toBe('out-of-fuel');
    }
    const starved = m.run('asloop', [1000], { fuel: 3 });
    expect(starved.status).toBe('out-of-fuel');
    expect(starved.fuelUsed).toBe(3);
    expect(m.run('diamond', [1]).fuelUsed).toBe(5);
    expect(m.run('diamond', [0]).fuelUsed).toBe(3);
  });

  it('stops an infinite loop with the out-of-fuel flag and a trap', async () => {
    const m = load(await wat(`(module (func (export "spin") (loop (br 0))))`));
    const r = m.run('spin', [], { fuel: 1_000_000 });
    expect(r.status).toBe('out-of-fuel');
    expect(r.flags).toBe(1);
    expect(r.error).toBeInstanceOf(WebAssembly.RuntimeError);
    expect(r.fuelUsed).toBe(1_000_000);
  });

  it('is deterministic across runs and instances', async () => {
    const bytes = await wat(`(module (memory 1)
      (func $mix (param $x i32) (result i32) (i32.xor (i32.mul (local.get $x) (i32.const 16777619)) (i32.const 2166136261)))
      (func (export "work") (param $n i32) (result i32) (local $h i32) (local $i i32)
        (loop $l
          (local.set $h (call $mix (i32.add (local.get $h) (local.get $i))))
          (i32.store8 (i32.and (local.get $i) (i32.const 1023)) (local.get $h))
          (if (i32.and (local.get $h) (i32.const 1)) (then (local.set $h (i32.rotl (local.get $h) (i32.const 5)))))
          (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
        (local.get $h)))`);
    const used = new Set<number>();
    for (let k = 0; k < 3; k++) {
      const m = load(bytes);
      for (let j = 0; j < 3; j++) used.add(m.run('work', [5000]).fuelUsed);
    }
    expect(used.size).toBe(1);
    expect([...used][0]).toBeGreaterThan(5000 * 10);
  });

  it('charges memory.fill in proportion to its length, before doing it', async () => {
    const m = load(
      await wat(`(module (memory (export "memory") 256)
        (func (export "fill") (param $n i32) (memory.fill (i32.const 0) (i32.const 7) (local.get $n))))`),
    );
    const small = m.run('fill', [0]);
    const big = m.run('fill', [16 * 1024 * 1024]);
    expect(small.status).toBe('ok');
    expect(big.status).toBe('ok');
    expect(big.fuelUsed - small.fuelUsed).toBe((16 * 1024 * 1024) >> 4);
    const mem = new Uint8Array((m.exports['memory'] as WebAssembly.Memory).buffer);
    mem.fill(0);
    const starved = m.run('fill', [16 * 1024 * 1024], { fuel: 10_000 });
    expect(starved.status).toBe('out-of-fuel');
    expect(mem[0]).toBe(0); // refused before writing a byte
  });

  it('charges memory.copy and table.fill by length', async () => {
    const m = load(
      await wat(`(module (memory 4) (table 1000 funcref)
        (func (export "copy") (param $n i32) (memory.copy (i32.const 0) (i32.const 65536) (local.get $n)))
        (func (export "tfill") (param $n i32) (table.fill (i32.const 0) (ref.null func) (local.get $n))))`),
    );
    expect(m.run('copy', [65536]).fuelUsed - m.run('copy', [0]).fuelUsed).toBe(4096);
    expect(m.run('tfill', [1000]).fuelUsed - m.run('tfill', [0]).fuelUsed).toBe(1000);
  });

  it('charges memory.grow per page on success and flags failure', async () => {
    const m = load(
      await wat(`(module (memory 1)
        (func (export "grow") (param $n i32) (result i32) (memory.grow (local.get $n))))`),
      { memoryMaxPages: 8 },
    );
    const zero = m.run('grow', [0]);
    const three = m.run('grow', [3]);
    expect(three.result).toBe(1);
    expect(three.fuelUsed - zero.fuelUsed).toBe(3 * MEMORY_GROW_PAGE_COST);
    const fail = m.run('grow', [100]);
    expect(fail.result).toBe(-1);
    expect(fail.flags).toBe(4);
    expect(fail.fuelUsed).toBe(zero.fuelUsed); // a failed grow pays only its base cost
  });

  it('ends a memory.grow loop that ignores failure with out-of-fuel and both flags', async () => {
    const m = load(
      await wat(`(module (memory 1) (func (export "hog") (loop (drop (memory.grow (i32.const 1))) (br 0))))`),
      { memoryMaxPages: 16 },
    );
    const r = m.run('hog', [], { fuel: 5_000_000 });
    expect(r.status).toBe('out-of-fuel');
    expect(r.flags).toBe(1 | 4);
  });

  it('runs an exponential loop-free call tree out of fuel', async () => {
    const m = load(
      await wat(`(module (func $t (export "tree") (param $d i32) (result i32)
        (if (result i32) (i32.eqz (local.get $d)) (then (i32.const 1))
          (else (i32.add (call $t (i32.sub (local.get $d) (i32.const 1))) (call $t (i32.sub (local.get $d) (i32.const 1))))))))`),
    );
    expect(m.run('tree', [10]).result).toBe(1024);
    const r = m.run('tree', [60], { fuel: 2_000_000 });
    expect(r.status).toBe('out-of-fuel');
    expect(r.flags).toBe(1);
    expect(r.fuelUsed).toBe(2_000_000);
  });

  it('moves the start function out of instantiation, so one that loops forever runs out of fuel', async () => {
    const m = load(
      await wat(`(module (func $s (loop (br 0))) (start $s) (func (export "ok") (result i32) (i32.const 1)))`),
    );
    expect(m.run('ok').result).toBe(1);
    const r = m.run('__sandbox_start', [], { fuel: 100_000 });
    expect(r.status).toBe('out-of-fuel');
  });

  it('writes the counter back around calls into the host', async () => {
    let seen = 0n;
    const bytes = await wat(`(module (import "h" "peek" (func $peek))
      (global $g (export "g") (mut i32) (i32.const 0))
      (func (export "f") (call $peek) (call $peek)))`);
    const m = load(bytes, undefined, {
      h: {
        peek: () => {
          const fuel = m.exports['__sandbox_fuel'] as WebAssembly.Global;
          const v = fuel.value as bigint;
          expect(v < 1000n).toBe(true);
          seen = v;
        },
      },
    });
    const r = m.run('f', [], { fuel: 1000 });
    expect(r.status).toBe('ok');
    // two calls cost 2, charged at entry: the host saw the counter after the charge
    expect(seen).toBe(998n);
    expect(r.fuelUsed).toBe(2);
  });

  it('can meter fuel without depth and depth without fuel', async () => {
    const bytes = await wat(COUNT);
    const fuelOnly = load(bytes, { stackDepth: false });
    expect(fuelOnly.run('count', [4], { depth: 0 }).fuelUsed).toBe(41);
    const depthOnly = load(bytes, { fuel: false });
    const r = depthOnly.run('count', [4], { fuel: 5 });
    expect(r.status).toBe('ok');
    expect(r.fuelUsed).toBe(0);
  });
});

// Instrumented modules expose their mutable globals to the host through three functions (not one Global per global), on V8 and the emulator alike.
import { describe, expect, it } from 'vitest';
import { StateGlobals } from '../../runtime/agent/state-globals.ts';
import { emulator } from '../../runtime/engine/emulator/index.ts';
import type { WasmNamespace } from '../../runtime/engine/namespace.ts';
import { instrument, SANDBOX_EXPORTS } from '../../runtime/module/instrument.ts';
import { STATE_GLOBAL_EXPORTS } from '../../runtime/module/state-globals.ts';
import { wat } from './module-harness.ts';

const source = `(module
  (global $a (mut i32) (i32.const -7))
  (global $k i32 (i32.const 1))
  (global $b (mut i64) (i64.const -9007199254740993))
  (global $c (mut f32) (f32.const 1.5))
  (global $r (mut funcref) (ref.null func))
  (global $d (mut f64) (f64.const -0.25))
  (func (export "bump") (global.set $a (i32.add (global.get $a) (i32.const 1))))
  (func (export "sum") (result f64)
    (f64.add (f64.add (f64.convert_i32_s (global.get $a)) (f64.convert_i64_s (global.get $b)))
      (f64.add (f64.promote_f32 (global.get $c)) (global.get $d)))))`;

const engines: [string, WasmNamespace][] = [
  ['v8', WebAssembly],
  ['emulator', emulator as unknown as WasmNamespace],
];

describe('state globals', () => {
  for (const [name, wa] of engines) {
    it(`${name}: reads and writes every mutable global in order; only the reference-typed one is an exported Global`, async () => {
      const module = new wa.Module(instrument(await wat(source), { exportGlobals: true }));
      const exported = wa.Module.exports(module);
      // Before: one Global per mutable global (five here); now only the funcref one, besides the meter's three.
      expect(exported.filter((e) => e.name.startsWith(SANDBOX_EXPORTS.globalPrefix)).map((e) => e.name)).toEqual([
        `${SANDBOX_EXPORTS.globalPrefix}4`,
      ]);
      for (const fn of Object.values(STATE_GLOBAL_EXPORTS))
        expect(exported.find((e) => e.name === fn)?.kind).toBe('function');

      const instance = new wa.Instance(module, {});
      const exports = instance.exports as Record<string, unknown>;
      const globals = StateGlobals.of(module, exports);
      expect(globals.count).toBe(5);
      expect(globals.read()).toEqual([-7, -9007199254740993n, 1.5, null, -0.25]);
      (exports.bump as () => void)();
      // (A reference global holds what JavaScript gives it; states of hibernating agents have none, see hibernator.ts.)
      globals.write([2 ** 31 + 5, 123n, 0.1, null as unknown as number, 1e300]);
      // i32 wraps as a WebAssembly.Global would; f32 rounds to single precision.
      expect(globals.read()).toEqual([-(2 ** 31) + 5, 123n, Math.fround(0.1), null, 1e300]);
      expect((exports.sum as () => number)()).toBe(-(2 ** 31) + 5 + 123 + Math.fround(0.1) + 1e300);
      // A second instance of the module reads its own globals (the layout is shared per module, not the values).
      const other = StateGlobals.of(module, new wa.Instance(module, {}).exports);
      expect(other.read()).toEqual([-7, -9007199254740993n, 1.5, null, -0.25]);
    });
  }

  it('without exportGlobals nothing is added, and a module without code exports its globals as Globals', async () => {
    const plain = WebAssembly.Module.exports(new WebAssembly.Module(instrument(await wat(source))));
    expect(plain.some((e) => e.name.startsWith('__sandbox_global'))).toBe(false);
    const noCode = await wat('(module (global (export "g") (mut i32) (i32.const 3)))');
    const module = new WebAssembly.Module(instrument(noCode, { exportGlobals: true }));
    const globals = StateGlobals.of(module, new WebAssembly.Instance(module).exports);
    expect(globals.read()).toEqual([3]);
  });

  it('a module with one numeric global reads and writes it (a single value, not an array)', async () => {
    const one = await wat('(module (global (mut i64) (i64.const 3)) (func (export "f")))');
    for (const [name, wa] of engines) {
      const module = new wa.Module(instrument(one, { exportGlobals: true }));
      const globals = StateGlobals.of(module, new wa.Instance(module, {}).exports);
      expect(globals.read(), name).toEqual([3n]);
      globals.write([-5n]);
      expect(globals.read(), name).toEqual([-5n]);
    }
  });

  it('refuses a module that already exports one of the names', async () => {
    const bytes = await wat(`(module (func (export "${STATE_GLOBAL_EXPORTS.getAll}")))`);
    expect(() => instrument(bytes, { exportGlobals: true })).toThrow(/instrumented twice/);
  });
});

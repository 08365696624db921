// A reusable runner for the WebAssembly core spec tests (wast2json output) against any WebAssembly-like namespace.
//
// Usage:
//   const r = runSpecFile(path.join(specJsonDir(repoRoot)!, 'i32.json'), { wasm: WebAssembly });
//   r.passed / r.failed / r.skipped / r.failures / r.outcomes
// With `transform` (e.g. the fuel instrumenter) every module is rewritten before it is compiled; after
// instantiation the runner sets `__sandbox_fuel` / `__sandbox_depth` / `__sandbox_flags` (when exported) and
// calls `__sandbox_start` (so a start-function trap counts as the module failing to instantiate); it sets the
// counters again before every action, as a host must (the depth is only meaningful when set before each call).
// Values that JavaScript cannot carry (v128) go through a small generated trampoline module, so SIMD files
// run as well; a namespace that cannot compile SIMD passes `includeSimd: false`.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { decodeModule } from '../../runtime/module/decode.ts';

/** The part of the `WebAssembly` namespace the runner uses. */
export interface WasmNamespace {
  Module: {
    new (bytes: Uint8Array): object;
    imports(module: object): Array<{ module: string; name: string; kind: string }>;
  };
  Instance: new (
    module: object,
    imports: Record<string, Record<string, unknown>>,
  ) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum?: number }) => object;
  Table: new (descriptor: { element: 'anyfunc' | 'externref'; initial: number; maximum?: number }) => object;
  Global: new (
    descriptor: { value: 'i32' | 'i64' | 'f32' | 'f64'; mutable?: boolean },
    value?: unknown,
  ) => { value: unknown };
  RuntimeError: new (...args: never[]) => Error;
  LinkError: new (...args: never[]) => Error;
  CompileError: new (...args: never[]) => Error;
}

export interface SpecRunOptions {
  wasm: WasmNamespace;
  /** Applied to every module before it is compiled (validation commands included: a throw counts as a rejection). */
  transform?: (bytes: Uint8Array) => Uint8Array;
  /** Run `simd_*` files (default true); when false their assertions are counted as skipped. */
  includeSimd?: boolean;
  /** Fuel given to a transformed module before every action (default 2^62). */
  fuel?: bigint;
  /** Call depth given to a transformed module (default 2^31 - 1, so the engine's own stack limit is what an exhaustion test hits). */
  depth?: number;
}

export type AssertionKind =
  | 'module'
  | 'action'
  | 'assert_return'
  | 'assert_trap'
  | 'assert_exhaustion'
  | 'assert_invalid'
  | 'assert_malformed'
  | 'assert_unlinkable'
  | 'assert_uninstantiable';

export interface AssertionOutcome {
  line: number;
  type: AssertionKind | string;
  outcome: 'passed' | 'failed' | 'skipped';
  /** For failures and skips: why. */
  message?: string;
}

export interface SpecFileResult {
  file: string;
  passed: number;
  failed: number;
  skipped: number;
  failures: AssertionOutcome[];
  /** Every assertion in file order (module commands appear only when they fail). */
  outcomes: AssertionOutcome[];
}

/**
 * The shared spec tests predate WebAssembly 3.0. An engine that implements it (V8 in Node 26: multi-memory,
 * memory64, extended constant expressions) accepts modules those tests call invalid or malformed, for exactly these
 * reasons; the instrumenter and the emulator still refuse them. True when `wasm` accepts a module with two memories.
 */
export function acceptsWasm3(wasm: { validate(bytes: Uint8Array<ArrayBuffer>): boolean }): boolean {
  // (module (memory 0) (memory 0))
  return wasm.validate(Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5, 5, 2, 0, 0, 0, 0));
}

const WASM3_REASONS = /\((multiple memories|zero byte expected|unknown global|integer representation too long)\)$/;

/** A failure of a module assertion that a WebAssembly 3.0 engine fails by design (see acceptsWasm3). */
export function isWasm3Acceptance(o: { outcome: string; type: string; message?: string }): boolean {
  return (
    o.outcome === 'failed' &&
    (o.type === 'assert_invalid' || o.type === 'assert_malformed') &&
    WASM3_REASONS.test(o.message ?? '')
  );
}

/** `../shared/wasm-spec/json` next to the repository, or null when it is absent. */
export function specJsonDir(repoRoot: string): string | null {
  const dir = path.resolve(repoRoot, '..', 'shared', 'wasm-spec', 'json');
  return existsSync(dir) ? dir : null;
}

/** The spec JSON files in a directory, sorted. */
export function listSpecFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => path.join(dir, f));
}

export function isSimdFile(jsonPath: string): boolean {
  return path.basename(jsonPath).startsWith('simd_');
}

interface Value {
  type: string;
  value?: string | string[];
  lane_type?: string;
}

interface Action {
  type: 'invoke' | 'get';
  module?: string;
  field: string;
  args?: Value[];
}

interface Command {
  type: string;
  line: number;
  filename?: string;
  name?: string;
  as?: string;
  module_type?: string;
  action?: Action;
  expected?: Value[];
  text?: string;
}

interface Sig {
  params: number[];
  results: number[];
}

interface Loaded {
  exports: Record<string, unknown>;
  sigs: Map<string, Sig>;
}

const V128 = 0x7b;

class Skip extends Error {}

class TransformError extends Error {}

/** Runs one spec JSON file; never throws for an assertion failure (it is counted instead). */
export function runSpecFile(jsonPath: string, options: SpecRunOptions): SpecFileResult {
  const runner = new FileRunner(jsonPath, options);
  return runner.run();
}

class FileRunner {
  private readonly dir: string;
  private readonly wasm: WasmNamespace;
  private readonly opts: SpecRunOptions;
  private readonly result: SpecFileResult;
  private readonly registry = new Map<string, Record<string, unknown>>();
  private readonly named = new Map<string, Loaded>();
  private readonly instances: Loaded[] = [];
  private readonly externs = new Map<string, object>();
  private readonly trampolines = new WeakMap<object, (...args: unknown[]) => unknown>();
  private current: Loaded | null = null;
  private currentFailed = false;

  constructor(
    private readonly jsonPath: string,
    options: SpecRunOptions,
  ) {
    this.dir = path.dirname(jsonPath);
    this.wasm = options.wasm;
    this.opts = options;
    this.result = { file: path.basename(jsonPath), passed: 0, failed: 0, skipped: 0, failures: [], outcomes: [] };
    const w = this.wasm;
    this.registry.set('spectest', {
      print: () => {},
      print_i32: () => {},
      print_i64: () => {},
      print_f32: () => {},
      print_f64: () => {},
      print_i32_f32: () => {},
      print_f64_f64: () => {},
      global_i32: new w.Global({ value: 'i32' }, 666),
      global_i64: new w.Global({ value: 'i64' }, 666n),
      global_f32: new w.Global({ value: 'f32' }, 666.6),
      global_f64: new w.Global({ value: 'f64' }, 666.6),
      table: new w.Table({ element: 'anyfunc', initial: 10, maximum: 20 }),
      memory: new w.Memory({ initial: 1, maximum: 2 }),
    });
  }

  run(): SpecFileResult {
    const doc = JSON.parse(readFileSync(this.jsonPath, 'utf8')) as { commands: Command[] };
    const skipAll = this.opts.includeSimd === false && isSimdFile(this.jsonPath);
    for (const cmd of doc.commands) {
      if (skipAll) {
        if (cmd.type !== 'module' && cmd.type !== 'register') this.record(cmd, 'skipped', 'SIMD files excluded');
        continue;
      }
      try {
        this.command(cmd);
      } catch (e) {
        if (e instanceof Skip) this.record(cmd, 'skipped', e.message);
        else this.record(cmd, 'failed', describe(e));
      }
    }
    return this.result;
  }

  private record(cmd: Command, outcome: AssertionOutcome['outcome'], message?: string): void {
    const o: AssertionOutcome = { line: cmd.line, type: cmd.type, outcome };
    if (message !== undefined) o.message = message;
    this.result[outcome]++;
    this.result.outcomes.push(o);
    if (outcome === 'failed') this.result.failures.push(o);
  }

  private command(cmd: Command): void {
    switch (cmd.type) {
      case 'module': {
        this.current = null;
        this.currentFailed = true;
        if (cmd.module_type === 'text' || !cmd.filename?.endsWith('.wasm')) throw new Skip('text module');
        const loaded = this.instantiate(this.load(cmd.filename));
        this.current = loaded;
        this.currentFailed = false;
        if (cmd.name) this.named.set(cmd.name, loaded);
        return;
      }
      case 'register': {
        const m = cmd.name ? this.named.get(cmd.name) : this.current;
        if (!m) throw new Error(`register: no module ${cmd.name ?? '(current)'}`);
        this.registry.set(cmd.as!, m.exports);
        return;
      }
      case 'action':
        this.act(cmd.action!);
        this.record(cmd, 'passed');
        return;
      case 'assert_return': {
        const got = this.act(cmd.action!);
        this.checkResults(got, cmd.expected ?? []);
        this.record(cmd, 'passed');
        return;
      }
      case 'assert_trap':
      case 'assert_exhaustion': {
        let thrown: unknown = null;
        try {
          this.act(cmd.action!);
        } catch (e) {
          if (e instanceof Skip) throw e;
          thrown = e;
        }
        this.resetSandboxGlobals();
        if (thrown === null)
          throw new Error(
            `expected ${cmd.type === 'assert_trap' ? 'a trap' : 'exhaustion'} (${cmd.text}), got a result`,
          );
        if (cmd.type === 'assert_trap' && !(thrown instanceof this.wasm.RuntimeError))
          throw new Error(`expected a RuntimeError (${cmd.text}), got ${describe(thrown)}`);
        if (cmd.type === 'assert_exhaustion' && !isExhaustion(thrown, this.wasm))
          throw new Error(`expected stack exhaustion, got ${describe(thrown)}`);
        this.record(cmd, 'passed');
        return;
      }
      case 'assert_invalid':
      case 'assert_malformed': {
        if (cmd.module_type === 'text' || !cmd.filename?.endsWith('.wasm')) throw new Skip('text module');
        const bytes = readFileSync(path.join(this.dir, cmd.filename));
        try {
          this.compile(bytes);
        } catch {
          this.record(cmd, 'passed');
          return;
        }
        throw new Error(`expected the module to be rejected (${cmd.text})`);
      }
      case 'assert_unlinkable':
      case 'assert_uninstantiable': {
        if (cmd.module_type === 'text' || !cmd.filename?.endsWith('.wasm')) throw new Skip('text module');
        const bytes = readFileSync(path.join(this.dir, cmd.filename));
        try {
          this.instantiate(bytes);
        } catch (e) {
          if (e instanceof TransformError) throw e;
          const want = cmd.type === 'assert_unlinkable' ? this.wasm.LinkError : this.wasm.RuntimeError;
          if (!(e instanceof want)) throw new Error(`expected ${want.name} (${cmd.text}), got ${describe(e)}`);
          this.record(cmd, 'passed');
          return;
        }
        throw new Error(`expected instantiation to fail (${cmd.text})`);
      }
      default:
        throw new Skip(`unknown command ${cmd.type}`);
    }
  }

  private load(filename: string): Uint8Array {
    return readFileSync(path.join(this.dir, filename));
  }

  private compile(bytes: Uint8Array): object {
    let b = bytes;
    if (this.opts.transform) {
      try {
        b = this.opts.transform(bytes);
      } catch (e) {
        throw new TransformError(`transform refused the module: ${describe(e)}`, { cause: e });
      }
    }
    return new this.wasm.Module(b);
  }

  private instantiate(bytes: Uint8Array): Loaded {
    const mod = this.compile(bytes);
    const imports: Record<string, Record<string, unknown>> = {};
    for (const imp of this.wasm.Module.imports(mod)) {
      const target = (imports[imp.module] ??= {});
      const source = this.registry.get(imp.module);
      if (source && imp.name in source) target[imp.name] = source[imp.name];
    }
    const inst = new this.wasm.Instance(mod, imports);
    const loaded: Loaded = { exports: inst.exports, sigs: signatures(bytes) };
    if (this.opts.transform) {
      this.resetOne(loaded);
      const start = inst.exports['__sandbox_start'];
      if (typeof start === 'function') start();
    }
    this.instances.push(loaded);
    return loaded;
  }

  private resetOne(m: Loaded): void {
    const e = m.exports;
    const fuel = e['__sandbox_fuel'] as { value: unknown } | undefined;
    const depth = e['__sandbox_depth'] as { value: unknown } | undefined;
    const flags = e['__sandbox_flags'] as { value: unknown } | undefined;
    if (fuel) fuel.value = this.opts.fuel ?? 1n << 62n;
    if (depth) depth.value = this.opts.depth ?? 0x7fffffff;
    if (flags) flags.value = 0;
  }

  /** Every action starts with fresh counters in every instance (a call may cross into other modules). */
  private resetSandboxGlobals(): void {
    if (!this.opts.transform) return;
    for (const m of this.instances) this.resetOne(m);
  }

  private target(action: Action): Loaded {
    const m = action.module ? this.named.get(action.module) : this.current;
    if (!m) {
      if (!action.module && this.currentFailed) throw new Error('the current module failed to load');
      throw new Error(`no module ${action.module ?? '(current)'}`);
    }
    return m;
  }

  private act(action: Action): unknown[] {
    this.resetSandboxGlobals();
    const m = this.target(action);
    const value = m.exports[action.field];
    if (action.type === 'get') {
      if (value instanceof this.wasm.Global) return [(value as { value: unknown }).value];
      throw new Error(`export ${action.field} is not a global`);
    }
    if (typeof value !== 'function') throw new Error(`export ${action.field} is not a function`);
    const args = action.args ?? [];
    if (action.field.includes('reinterpret') && args.some(isNaNValue))
      throw new Skip('NaN payload cannot cross the JS API');
    const sig = m.sigs.get(action.field);
    if (sig && (sig.params.includes(V128) || sig.results.includes(V128)))
      return this.viaTrampoline(value as (...a: unknown[]) => unknown, sig, args);
    const r = (value as (...a: unknown[]) => unknown)(...args.map((a) => this.toJs(a)));
    const n = sig ? sig.results.length : 1;
    if (n === 0) return [];
    if (n === 1) return [r];
    return [...(r as Iterable<unknown>)];
  }

  private toJs(v: Value): unknown {
    const s = v.value as string;
    switch (v.type) {
      case 'i32':
        return Number(BigInt.asIntN(32, BigInt(s)));
      case 'i64':
        return BigInt.asIntN(64, BigInt(s));
      case 'f32':
        return f32FromBits(Number(s));
      case 'f64':
        return f64FromBits(BigInt(s));
      case 'externref':
        return s === 'null' ? null : this.extern(s);
      case 'funcref':
        if (s === 'null') return null;
        throw new Skip('non-null funcref argument');
      default:
        throw new Skip(`argument type ${v.type}`);
    }
  }

  private extern(key: string): object {
    let o = this.externs.get(key);
    if (!o) {
      o = { extern: key };
      this.externs.set(key, o);
    }
    return o;
  }

  private checkResults(got: unknown[], expected: Value[]): void {
    if (got.length !== expected.length) throw new Error(`expected ${expected.length} results, got ${got.length}`);
    expected.forEach((e, i) => {
      const msg = this.mismatch(got[i], e);
      if (msg !== null) throw new Error(`result ${i}: ${msg}`);
    });
  }

  private mismatch(got: unknown, e: Value): string | null {
    const s = e.value as string;
    switch (e.type) {
      case 'i32':
        return typeof got === 'number' && String(got >>> 0) === s ? null : `expected i32 ${s}, got ${String(got)}`;
      case 'i64':
        return typeof got === 'bigint' && BigInt.asUintN(64, got).toString() === s
          ? null
          : `expected i64 ${s}, got ${String(got)}`;
      case 'f32': {
        if (typeof got !== 'number') return `expected f32, got ${typeof got}`;
        if (s.startsWith('nan:') || isF32NaNBits(Number(s)))
          return Number.isNaN(got) ? null : `expected NaN, got ${got}`;
        return f32Bits(got) === Number(s) ? null : `expected f32 bits ${s}, got ${f32Bits(got)} (${got})`;
      }
      case 'f64': {
        if (typeof got !== 'number') return `expected f64, got ${typeof got}`;
        if (s.startsWith('nan:') || isF64NaNBits(BigInt(s)))
          return Number.isNaN(got) ? null : `expected NaN, got ${got}`;
        return f64Bits(got) === BigInt(s) ? null : `expected f64 bits ${s}, got ${f64Bits(got)} (${got})`;
      }
      case 'externref':
        if (s === 'null') return got === null ? null : 'expected null externref';
        return got === this.extern(s) ? null : `expected externref ${s}`;
      case 'funcref':
        if (s === 'null') return got === null ? null : 'expected null funcref';
        return typeof got === 'function' ? null : 'expected a function';
      case 'v128':
        return v128Mismatch(got as [bigint, bigint], e);
      default:
        throw new Skip(`result type ${e.type}`);
    }
  }

  /** Calls a function whose signature has v128 through a generated module that splits each v128 into two i64s. */
  private viaTrampoline(fn: (...a: unknown[]) => unknown, sig: Sig, args: Value[]): unknown[] {
    let t = this.trampolines.get(fn);
    if (!t) {
      const bytes = trampolineModule(sig);
      const inst = new this.wasm.Instance(new this.wasm.Module(bytes), { m: { f: fn } });
      t = inst.exports['t'] as (...a: unknown[]) => unknown;
      this.trampolines.set(fn, t);
    }
    const jsArgs: unknown[] = [];
    args.forEach((a) => {
      if (a.type === 'v128') jsArgs.push(...v128ToI64Pair(a));
      else jsArgs.push(this.toJs(a));
    });
    const r = t(...jsArgs);
    const flat = countFlat(sig.results) === 0 ? [] : countFlat(sig.results) === 1 ? [r] : [...(r as Iterable<unknown>)];
    const out: unknown[] = [];
    let k = 0;
    for (const ty of sig.results) {
      if (ty === V128) {
        out.push([flat[k], flat[k + 1]]);
        k += 2;
      } else out.push(flat[k++]);
    }
    return out;
  }
}

function countFlat(types: number[]): number {
  return types.reduce((n, t) => n + (t === V128 ? 2 : 1), 0);
}

/** Export name -> function signature, read from the module's own type information. */
function signatures(bytes: Uint8Array): Map<string, Sig> {
  const sigs = new Map<string, Sig>();
  let info;
  try {
    info = decodeModule(bytes);
  } catch {
    return sigs;
  }
  const funcImports = info.imports.filter((i) => i.kind === 0);
  for (const e of info.exports) {
    if (e.kind !== 0) continue;
    const ti =
      e.index < funcImports.length ? funcImports[e.index]!.typeIndex! : info.funcTypes[e.index - funcImports.length];
    const t = ti === undefined ? undefined : info.types[ti];
    if (t) sigs.set(e.name, t);
  }
  return sigs;
}

// --- the trampoline module --------------------------------------------------------------------------

function uleb(n: number, out: number[]): void {
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
}

function section(id: number, content: number[], out: number[]): void {
  out.push(id);
  uleb(content.length, out);
  out.push(...content);
}

function funcType(params: number[], results: number[], out: number[]): void {
  out.push(0x60);
  uleb(params.length, out);
  out.push(...params);
  uleb(results.length, out);
  out.push(...results);
}

function trampolineModule(sig: Sig): Uint8Array {
  const flatParams = sig.params.flatMap((t) => (t === V128 ? [0x7e, 0x7e] : [t]));
  const flatResults = sig.results.flatMap((t) => (t === V128 ? [0x7e, 0x7e] : [t]));
  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const types: number[] = [2];
  funcType(sig.params, sig.results, types);
  funcType(flatParams, flatResults, types);
  section(1, types, out);
  section(2, [1, 1, 0x6d, 1, 0x66, 0x00, 0x00], out); // import "m" "f" (func (type 0))
  section(3, [1, 1], out);
  section(7, [1, 1, 0x74, 0x00, 0x01], out); // export "t" (func 1)
  const body: number[] = [];
  // one local per original result
  body.push(sig.results.length);
  for (const t of sig.results) body.push(1, t);
  let k = 0;
  for (const t of sig.params) {
    if (t === V128) {
      body.push(0xfd, 0x0c, ...new Array<number>(16).fill(0));
      body.push(0x20);
      uleb(k++, body);
      body.push(0xfd, 30, 0);
      body.push(0x20);
      uleb(k++, body);
      body.push(0xfd, 30, 1);
    } else {
      body.push(0x20);
      uleb(k++, body);
    }
  }
  body.push(0x10, 0x00);
  const base = flatParams.length;
  for (let i = sig.results.length - 1; i >= 0; i--) {
    body.push(0x21);
    uleb(base + i, body);
  }
  sig.results.forEach((t, i) => {
    body.push(0x20);
    uleb(base + i, body);
    if (t === V128) {
      body.push(0xfd, 29, 0, 0x20);
      uleb(base + i, body);
      body.push(0xfd, 29, 1);
    }
  });
  body.push(0x0b);
  const code: number[] = [1];
  uleb(body.length, code);
  code.push(...body);
  section(10, code, out);
  return Uint8Array.from(out);
}

// --- values -----------------------------------------------------------------------------------------

const scratch = new DataView(new ArrayBuffer(16));

function f32FromBits(bits: number): number {
  scratch.setUint32(0, bits >>> 0, true);
  return scratch.getFloat32(0, true);
}

function f64FromBits(bits: bigint): number {
  scratch.setBigUint64(0, BigInt.asUintN(64, bits), true);
  return scratch.getFloat64(0, true);
}

function f32Bits(x: number): number {
  scratch.setFloat32(0, x, true);
  return scratch.getUint32(0, true);
}

function f64Bits(x: number): bigint {
  scratch.setFloat64(0, x, true);
  return scratch.getBigUint64(0, true);
}

function isF32NaNBits(bits: number): boolean {
  return (bits & 0x7f800000) === 0x7f800000 && (bits & 0x007fffff) !== 0;
}

function isF64NaNBits(bits: bigint): boolean {
  return (bits & 0x7ff0000000000000n) === 0x7ff0000000000000n && (bits & 0x000fffffffffffffn) !== 0n;
}

function isNaNValue(v: Value): boolean {
  if (typeof v.value !== 'string' || v.value.startsWith('nan:'))
    return typeof v.value === 'string' && v.value.startsWith('nan:');
  if (v.type === 'f32') return isF32NaNBits(Number(v.value));
  if (v.type === 'f64') return isF64NaNBits(BigInt(v.value));
  return false;
}

const LANES: Record<string, { n: number; bytes: number }> = {
  i8: { n: 16, bytes: 1 },
  i16: { n: 8, bytes: 2 },
  i32: { n: 4, bytes: 4 },
  i64: { n: 2, bytes: 8 },
  f32: { n: 4, bytes: 4 },
  f64: { n: 2, bytes: 8 },
};

function v128ToI64Pair(v: Value): [bigint, bigint] {
  const lanes = LANES[v.lane_type ?? ''];
  const values = v.value as string[];
  if (!lanes || !Array.isArray(values)) throw new Skip(`v128 lane type ${v.lane_type}`);
  const dv = new DataView(new ArrayBuffer(16));
  values.forEach((s, i) => {
    const off = i * lanes.bytes;
    if (lanes.bytes === 8) dv.setBigUint64(off, BigInt.asUintN(64, BigInt(s)), true);
    else if (lanes.bytes === 4) dv.setUint32(off, Number(BigInt.asUintN(32, BigInt(s))), true);
    else if (lanes.bytes === 2) dv.setUint16(off, Number(BigInt.asUintN(16, BigInt(s))), true);
    else dv.setUint8(off, Number(BigInt.asUintN(8, BigInt(s))));
  });
  return [dv.getBigInt64(0, true), dv.getBigInt64(8, true)];
}

function v128Mismatch(got: [bigint, bigint], e: Value): string | null {
  const lanes = LANES[e.lane_type ?? ''];
  const values = e.value as string[];
  if (!lanes || !Array.isArray(values)) throw new Skip(`v128 lane type ${e.lane_type}`);
  if (!Array.isArray(got) || typeof got[0] !== 'bigint') return 'expected a v128';
  const dv = new DataView(new ArrayBuffer(16));
  dv.setBigUint64(0, BigInt.asUintN(64, got[0]), true);
  dv.setBigUint64(8, BigInt.asUintN(64, got[1]), true);
  for (let i = 0; i < values.length; i++) {
    const s = values[i]!;
    const off = i * lanes.bytes;
    let actual: bigint;
    if (lanes.bytes === 8) actual = dv.getBigUint64(off, true);
    else if (lanes.bytes === 4) actual = BigInt(dv.getUint32(off, true));
    else if (lanes.bytes === 2) actual = BigInt(dv.getUint16(off, true));
    else actual = BigInt(dv.getUint8(off));
    if (e.lane_type === 'f32' && (s.startsWith('nan:') || isF32NaNBits(Number(s)))) {
      if (!isF32NaNBits(Number(actual))) return `lane ${i}: expected NaN, got bits ${actual}`;
      continue;
    }
    if (e.lane_type === 'f64' && (s.startsWith('nan:') || isF64NaNBits(BigInt(s)))) {
      if (!isF64NaNBits(actual)) return `lane ${i}: expected NaN, got bits ${actual}`;
      continue;
    }
    if (actual !== BigInt.asUintN(lanes.bytes * 8, BigInt(s))) return `lane ${i}: expected ${s}, got ${actual}`;
  }
  return null;
}

function isExhaustion(e: unknown, wasm: WasmNamespace): boolean {
  if (e instanceof RangeError) return true;
  return e instanceof wasm.RuntimeError && /stack|exhaust|recursion/i.test(e.message);
}

function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

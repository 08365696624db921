// An instance's mutable globals as the host reads and writes them: through the instrumenter's functions (module/state-globals.ts), or as exported Globals.
import { SANDBOX_EXPORTS } from '../module/instrument.ts';
import { STATE_GLOBAL_EXPORTS } from '../module/state-globals.ts';

interface MutableGlobal {
  value: number | bigint;
}

type Fn = (...args: (number | bigint)[]) => unknown;

const I32 = 0x7f;
const I64 = 0x7e;
/** A global exported as a Global (reference-typed, or a module the functions could not be added to). */
const EXPORTED = 0;

/** Per module, what each state global is (the same for every instance): asked of the first instance only. */
const layouts = new WeakMap<object, Int32Array>();

export class StateGlobals {
  private constructor(
    /** Per state global, in the module's order: its value type, or EXPORTED. */
    private readonly kinds: Int32Array,
    private readonly get: Fn | undefined,
    private readonly set: Fn | undefined,
    private readonly getI64: Fn | undefined,
    private readonly setI64: Fn | undefined,
    /** The exported Globals, in order, for the EXPORTED positions. */
    private readonly globals: MutableGlobal[],
  ) {}

  /** The state globals of an instance of `module`, from its exports. */
  static of(module: object, exports: Record<string, unknown>): StateGlobals {
    const globals: MutableGlobal[] = [];
    for (const name in exports) {
      if (name.startsWith(SANDBOX_EXPORTS.globalPrefix)) globals.push(exports[name] as MutableGlobal);
    }
    const layout = exports[STATE_GLOBAL_EXPORTS.layout] as Fn | undefined;
    let kinds = layouts.get(module);
    if (kinds === undefined) {
      const found: number[] = [];
      if (typeof layout === 'function') {
        for (let kind = layout(0) as number; kind !== -1; kind = layout(found.length) as number) found.push(kind);
      } else for (let i = 0; i < globals.length; i++) found.push(EXPORTED);
      kinds = Int32Array.from(found);
      layouts.set(module, kinds);
    }
    return new StateGlobals(
      kinds,
      exports[STATE_GLOBAL_EXPORTS.get] as Fn | undefined,
      exports[STATE_GLOBAL_EXPORTS.set] as Fn | undefined,
      exports[STATE_GLOBAL_EXPORTS.getI64] as Fn | undefined,
      exports[STATE_GLOBAL_EXPORTS.setI64] as Fn | undefined,
      globals,
    );
  }

  get count(): number {
    return this.kinds.length;
  }

  /** Their values now (numbers; i64 as bigint). */
  read(): (number | bigint)[] {
    const kinds = this.kinds;
    const values = new Array<number | bigint>(kinds.length);
    let exported = 0;
    for (let i = 0; i < kinds.length; i++) {
      const kind = kinds[i]!;
      values[i] =
        kind === EXPORTED
          ? this.globals[exported++]!.value
          : kind === I64
            ? (this.getI64!(i) as bigint)
            : (this.get!(i) as number);
    }
    return values;
  }

  /** Sets the first `values.length` of them (i64 ones take a bigint, as a WebAssembly.Global would). */
  write(values: readonly (number | bigint)[]): void {
    const kinds = this.kinds;
    let exported = 0;
    for (let i = 0; i < values.length && i < kinds.length; i++) {
      const kind = kinds[i]!;
      const value = values[i]!;
      if (kind === EXPORTED) this.globals[exported++]!.value = value;
      else if (kind === I64) this.setI64!(i, value);
      // An i32 global takes the value as a WebAssembly.Global would (ToInt32), so the function's conversion never traps.
      else this.set!(i, kind === I32 ? (value as number) | 0 : value);
    }
  }
}

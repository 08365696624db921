// An instance's mutable globals as the host reads and writes them: through the instrumenter's functions (module/state-globals.ts), or as exported Globals.
import { SANDBOX_EXPORTS } from '../module/instrument.ts';
import { STATE_GLOBAL_EXPORTS } from '../module/state-globals.ts';

interface MutableGlobal {
  value: number | bigint;
}

type Fn = (...args: (number | bigint)[]) => unknown;

const I32 = 0x7f;
/** A global exported as a Global (reference-typed, or a module the functions could not be added to). */
const EXPORTED = 0;

/** Per module, what each state global is (the same for every instance): asked of the first instance only. */
const layouts = new WeakMap<object, Int32Array>();

export class StateGlobals {
  /** How many of them go through the functions. */
  private readonly numeric: number;

  private constructor(
    /** Per state global, in the module's order: its value type, or EXPORTED. */
    private readonly kinds: Int32Array,
    private readonly getAll: Fn | undefined,
    private readonly setAll: Fn | undefined,
    /** The exported Globals, in order, for the EXPORTED positions. */
    private readonly globals: MutableGlobal[],
  ) {
    this.numeric = kinds.length - globals.length;
  }

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
      exports[STATE_GLOBAL_EXPORTS.getAll] as Fn | undefined,
      exports[STATE_GLOBAL_EXPORTS.setAll] as Fn | undefined,
      globals,
    );
  }

  get count(): number {
    return this.kinds.length;
  }

  /** Their values now (numbers; i64 as bigint). */
  read(): (number | bigint)[] {
    const kinds = this.kinds;
    // One call for all numeric ones: an array when there are several, the value itself when there is one.
    const got = this.numeric === 0 ? [] : this.getAll!();
    const numeric = this.numeric === 1 ? [got as number | bigint] : (got as (number | bigint)[]);
    if (this.globals.length === 0) return numeric;
    const values = new Array<number | bigint>(kinds.length);
    let exported = 0;
    let next = 0;
    for (let i = 0; i < kinds.length; i++)
      values[i] = kinds[i] === EXPORTED ? this.globals[exported++]!.value : numeric[next++]!;
    return values;
  }

  /**
   * Sets them all from `values` (i64 ones take a bigint, as a WebAssembly.Global would; missing trailing values
   * keep theirs).
   */
  write(values: readonly (number | bigint)[]): void {
    const kinds = this.kinds;
    const current = values.length < kinds.length ? this.read() : null;
    const args = new Array<number | bigint>(this.numeric);
    let exported = 0;
    let next = 0;
    for (let i = 0; i < kinds.length; i++) {
      const kind = kinds[i]!;
      const value = i < values.length ? values[i]! : current![i]!;
      if (kind === EXPORTED) this.globals[exported++]!.value = value;
      // An i32 global takes the value as a WebAssembly.Global would (ToInt32), so the conversion inside never traps.
      else args[next++] = kind === I32 ? (value as number) | 0 : value;
    }
    if (this.numeric > 0) this.setAll!(...args);
  }
}

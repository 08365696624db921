// Seeded generator of valid, irregular WebAssembly modules (as WAT) for differential fuzzing of engines and the instrumenter.

import { rng } from '../support/rng.ts';

export type T = 'i32' | 'i64' | 'f32' | 'f64';
export const TYPES: readonly T[] = ['i32', 'i64', 'f32', 'f64'];

export interface FuzzFunc {
  params: T[];
  results: T[];
}

/** One generated module: every function `i` is exported as `f<i>`, globals as `g0..g4`, the memory as `memory`. */
export interface FuzzModule {
  seed: number;
  wat: string;
  funcs: FuzzFunc[];
}

export const GLOBAL_EXPORTS = ['g0', 'g1', 'g2', 'g3', 'g4'] as const;

const I32S = [
  '0',
  '1',
  '-1',
  '2',
  '3',
  '7',
  '8',
  '31',
  '32',
  '33',
  '255',
  '256',
  '4096',
  '65535',
  '65536',
  '-2147483648',
  '2147483647',
  '0x3ff8',
];
const I64S = [
  '0',
  '1',
  '-1',
  '2',
  '63',
  '64',
  '65',
  '0xffffffff',
  '0x100000000',
  '-9223372036854775808',
  '9223372036854775807',
  '12345678901234',
];
const FLOATS = [
  '0',
  '-0',
  '1',
  '-1',
  '0.5',
  '-1.5',
  '2.5',
  '3.75',
  '1e10',
  '-1e10',
  '2147483648',
  '-2147483649',
  '4294967296',
  '9.2e18',
  '1.8e19',
  '3.4e38',
  '1e-40',
  'nan',
  'inf',
  '-inf',
  '123.456',
  '-0.4999',
  '0.5000001',
  'nan:0x200000',
];

const BIN: Record<T, readonly string[]> = {
  i32: [
    'add',
    'sub',
    'mul',
    'div_s',
    'div_u',
    'rem_s',
    'rem_u',
    'and',
    'or',
    'xor',
    'shl',
    'shr_s',
    'shr_u',
    'rotl',
    'rotr',
  ],
  i64: [
    'add',
    'sub',
    'mul',
    'div_s',
    'div_u',
    'rem_s',
    'rem_u',
    'and',
    'or',
    'xor',
    'shl',
    'shr_s',
    'shr_u',
    'rotl',
    'rotr',
  ],
  f32: ['add', 'sub', 'mul', 'div', 'min', 'max'],
  f64: ['add', 'sub', 'mul', 'div', 'min', 'max'],
};
const UN: Record<T, readonly string[]> = {
  i32: ['clz', 'ctz', 'popcnt', 'extend8_s', 'extend16_s'],
  i64: ['clz', 'ctz', 'popcnt', 'extend8_s', 'extend16_s', 'extend32_s'],
  f32: ['abs', 'neg', 'ceil', 'floor', 'trunc', 'nearest', 'sqrt'],
  f64: ['abs', 'neg', 'ceil', 'floor', 'trunc', 'nearest', 'sqrt'],
};
const CMP: Record<T, readonly string[]> = {
  i32: ['eq', 'ne', 'lt_s', 'lt_u', 'gt_s', 'gt_u', 'le_s', 'le_u', 'ge_s', 'ge_u'],
  i64: ['eq', 'ne', 'lt_s', 'lt_u', 'gt_s', 'gt_u', 'le_s', 'le_u', 'ge_s', 'ge_u'],
  f32: ['eq', 'ne', 'lt', 'gt', 'le', 'ge'],
  f64: ['eq', 'ne', 'lt', 'gt', 'le', 'ge'],
};
/** Conversions to each type: [instruction, operand type]. */
const CONV: Record<T, readonly (readonly [string, T])[]> = {
  i32: [
    ['i32.wrap_i64', 'i64'],
    ['i32.trunc_f32_s', 'f32'],
    ['i32.trunc_f32_u', 'f32'],
    ['i32.trunc_f64_s', 'f64'],
    ['i32.trunc_f64_u', 'f64'],
    ['i32.trunc_sat_f64_s', 'f64'],
    ['i32.trunc_sat_f32_u', 'f32'],
    ['i32.reinterpret_f32', 'f32'],
    ['i64.eqz', 'i64'],
  ],
  i64: [
    ['i64.extend_i32_s', 'i32'],
    ['i64.extend_i32_u', 'i32'],
    ['i64.trunc_f64_s', 'f64'],
    ['i64.trunc_f32_u', 'f32'],
    ['i64.trunc_sat_f64_u', 'f64'],
    ['i64.trunc_sat_f32_s', 'f32'],
    ['i64.reinterpret_f64', 'f64'],
  ],
  f32: [
    ['f32.convert_i32_s', 'i32'],
    ['f32.convert_i32_u', 'i32'],
    ['f32.convert_i64_u', 'i64'],
    ['f32.convert_i64_s', 'i64'],
    ['f32.demote_f64', 'f64'],
    ['f32.reinterpret_i32', 'i32'],
  ],
  f64: [
    ['f64.convert_i32_u', 'i32'],
    ['f64.convert_i32_s', 'i32'],
    ['f64.convert_i64_s', 'i64'],
    ['f64.convert_i64_u', 'i64'],
    ['f64.promote_f32', 'f32'],
    ['f64.reinterpret_i64', 'i64'],
  ],
};
const LOADS: Record<T, readonly string[]> = {
  i32: ['i32.load', 'i32.load8_s', 'i32.load8_u', 'i32.load16_s', 'i32.load16_u'],
  i64: ['i64.load', 'i64.load8_s', 'i64.load8_u', 'i64.load16_s', 'i64.load16_u', 'i64.load32_s', 'i64.load32_u'],
  f32: ['f32.load'],
  f64: ['f64.load'],
};
const STORES: Record<T, readonly string[]> = {
  i32: ['i32.store', 'i32.store8', 'i32.store16'],
  i64: ['i64.store', 'i64.store8', 'i64.store16', 'i64.store32'],
  f32: ['f32.store'],
  f64: ['f64.store'],
};
/** One conversion per pair, none trapping, for fitting a call's result to the type wanted. */
const FIT: Record<string, string> = {
  'i32>i64': 'i64.extend_i32_s',
  'i32>f32': 'f32.convert_i32_s',
  'i32>f64': 'f64.convert_i32_s',
  'i64>i32': 'i32.wrap_i64',
  'i64>f32': 'f32.convert_i64_s',
  'i64>f64': 'f64.convert_i64_s',
  'f32>i32': 'i32.trunc_sat_f32_s',
  'f32>i64': 'i64.trunc_sat_f32_s',
  'f32>f64': 'f64.promote_f32',
  'f64>i32': 'i32.trunc_sat_f64_s',
  'f64>i64': 'i64.trunc_sat_f64_s',
  'f64>f32': 'f32.demote_f64',
};

/** Estimated instructions one call of a function may execute: calls inside loops must stay cheap. */
const CALL_COST_LIMIT = 40_000;
/** Frames of self-recursion at most (global 4 counts them). */
const MAX_RECURSION = 12;

interface Label {
  /** What a branch to it carries. */
  types: readonly T[];
  /** Loops are only re-entered by their own counter, so a random branch never targets one. */
  loop: boolean;
}

class FunctionGen {
  readonly code: string[] = [];
  private readonly locals: T[];
  /** Locals nothing but their loop writes (loop counters). */
  private readonly reserved = new Set<number>();
  private readonly labels: Label[] = [];
  private budget: number;
  /** Product of the iteration counts of the loops around the code being generated. */
  private mult = 1;
  cost = 0;
  /** Calls itself (once, guarded by the depth global): no other call after that, to keep its cost known. */
  recursive = false;

  constructor(
    private readonly rnd: () => number,
    private readonly index: number,
    private readonly sig: FuzzFunc,
    private readonly funcs: readonly FuzzFunc[],
    private readonly costs: readonly number[],
  ) {
    this.locals = [...sig.params];
    // Several locals of every type, in an irregular order.
    const n = 4 + Math.floor(rnd() * 6);
    for (let i = 0; i < n; i++) this.locals.push(TYPES[i % 4] as T);
    for (let i = 0; i < 3; i++) this.locals.push(this.pick(TYPES));
    this.budget = 30 + Math.floor(rnd() * 90);
  }

  private pick<X>(xs: readonly X[]): X {
    return xs[Math.floor(this.rnd() * xs.length)] as X;
  }

  private chance(p: number): boolean {
    return this.rnd() < p;
  }

  private emit(...ins: string[]): void {
    this.code.push(...ins);
    this.cost += this.mult * ins.length;
  }

  private newLocal(t: T): number {
    this.locals.push(t);
    return this.locals.length - 1;
  }

  /** A local of type t that code may overwrite (not a loop counter); sometimes a new one. */
  private localOf(t: T, writable: boolean): number {
    const idx: number[] = [];
    this.locals.forEach((lt, i) => {
      if (
        lt === t &&
        !(writable && this.reserved.has(i)) &&
        !(writable && i < this.sig.params.length && this.chance(0.5))
      )
        idx.push(i);
    });
    return idx.length > 0 ? this.pick(idx) : this.newLocal(t);
  }

  /** Generates the function body: statements, then its results. */
  body(): string {
    this.labels.push({ types: this.sig.results, loop: false });
    const n = 1 + Math.floor(this.rnd() * 3);
    for (let i = 0; i < n; i++) this.stmt(3);
    for (const t of this.sig.results) this.value(t, 4);
    this.labels.pop();
    const locals = this.locals.slice(this.sig.params.length);
    const decl = locals.length > 0 ? `(local ${locals.join(' ')})` : '';
    const params = this.sig.params.length > 0 ? ` (param ${this.sig.params.join(' ')})` : '';
    const results = this.sig.results.length > 0 ? ` (result ${this.sig.results.join(' ')})` : '';
    return `(func $f${this.index} (type $t${this.index})${params}${results} ${decl}\n    ${this.code.join('\n    ')})`;
  }

  private leaf(t: T): void {
    const k = this.rnd();
    if (k < 0.45) this.emit(`local.get ${this.localOf(t, false)}`);
    else if (k < 0.6) this.emit(`global.get ${TYPES.indexOf(t)}`);
    else if (t === 'i32') this.emit(`i32.const ${this.pick(I32S)}`);
    else if (t === 'i64') this.emit(`i64.const ${this.pick(I64S)}`);
    else this.emit(`${t}.const ${this.pick(FLOATS)}`);
  }

  /** A float's NaN bits differ between engines (x86 makes negative NaNs): 0 instead, before bits are observed. */
  private scrub(t: T): void {
    if (t !== 'f32' && t !== 'f64') return;
    const tmp = this.newLocal(t);
    this.emit(`local.tee ${tmp}`, `${t}.const 0`, `local.get ${tmp}`, `local.get ${tmp}`, `${t}.eq`, 'select');
  }

  private address(): void {
    if (this.chance(0.04)) {
      this.emit(`i32.const ${this.pick(['65533', '65535', '65536', '-1', '131070', '262140'])}`);
      return;
    }
    this.value('i32', 1);
    this.emit('i32.const 0x3ff8', 'i32.and');
  }

  private cond(depth: number): void {
    if (this.chance(0.5)) {
      const s = this.pick(TYPES);
      this.value(s, depth - 1);
      this.value(s, depth - 1);
      this.emit(`${s}.${this.pick(CMP[s])}`);
    } else {
      this.value('i32', depth - 1);
    }
  }

  /** Leaves the values of `ts` (top last) consumed: dropped, stored in locals or teed and dropped. */
  private consume(ts: readonly T[], dropRate = 0.45): (number | undefined)[] {
    const into: (number | undefined)[] = [];
    for (let k = ts.length - 1; k >= 0; k--) {
      const t = ts[k] as T;
      const r = this.rnd();
      if (r < dropRate) {
        this.emit('drop');
        continue;
      }
      const x = this.localOf(t, true);
      into[k] = x;
      if (r < dropRate + (1 - dropRate) * 0.75) this.emit(`local.set ${x}`);
      else this.emit(`local.tee ${x}`, 'drop');
    }
    return into;
  }

  private values(ts: readonly T[], depth: number): void {
    for (const t of ts) this.value(t, depth);
  }

  private resultTypes(first: T): T[] {
    const ts = [first];
    const extra = this.chance(0.5) ? 0 : 1 + Math.floor(this.rnd() * 2);
    for (let i = 0; i < extra; i++) ts.push(this.pick(TYPES));
    return ts;
  }

  /** Pushes one value of type t. */
  value(t: T, depth: number): void {
    this.budget--;
    if (depth <= 0 || this.budget <= 0 || this.chance(0.12)) {
      this.leaf(t);
      return;
    }
    const d = depth - 1;
    const r = this.rnd();
    if (r < 0.16) {
      this.value(t, d);
      this.value(t, d);
      this.emit(`${t}.${this.pick(BIN[t])}`);
    } else if (r < 0.2 && (t === 'f32' || t === 'f64')) {
      this.value(t, d);
      this.value(t, d);
      this.scrub(t);
      this.emit(`${t}.copysign`);
    } else if (r < 0.25) {
      this.value(t, d);
      this.emit(`${t}.${this.pick(UN[t])}`);
    } else if (r < 0.31 && t === 'i32') {
      this.cond(depth);
    } else if (r < 0.37) {
      const [op, from] = this.pick(CONV[t]);
      this.value(from, d);
      if (op.includes('reinterpret')) this.scrub(from);
      this.emit(op);
    } else if (r < 0.43) {
      this.address();
      this.emit(`${this.pick(LOADS[t])} offset=${this.pick(['0', '0', '4', '16', '65535'])}`);
    } else if (r < 0.48) {
      // if/else with results, sometimes more than one.
      const ts = this.resultTypes(t);
      this.cond(d);
      this.emit(`if (result ${ts.join(' ')})`);
      this.labels.push({ types: ts, loop: false });
      if (this.chance(0.3)) this.stmt(d);
      this.values(ts, d);
      this.emit('else');
      if (this.chance(0.3)) this.stmt(d);
      this.values(ts, d);
      this.labels.pop();
      this.emit('end');
      this.consume(ts.slice(1));
    } else if (r < 0.53) {
      this.value(t, d);
      this.value(t, d);
      this.cond(d);
      this.emit(this.chance(0.5) ? 'select' : `select (result ${t})`);
    } else if (r < 0.66) {
      this.branchBlock(t, d);
    } else if (r < 0.71) {
      this.brTableValue(t, d);
    } else if (r < 0.78) {
      if (!this.call(t, d)) this.leaf(t);
    } else if (r < 0.84) {
      this.loopValue(t, d);
    } else if (r < 0.87 && t === 'i32') {
      if (this.chance(0.5)) this.emit('memory.size');
      else {
        this.value('i32', d);
        this.emit('i32.const 3', 'i32.rem_u', 'memory.grow');
      }
    } else if (r < 0.92) {
      this.value(t, d);
      this.emit(`local.tee ${this.localOf(t, true)}`);
    } else if (r < 0.96) {
      // A block with no branch: statements, then the value.
      this.emit(`block (result ${t})`);
      this.labels.push({ types: [t], loop: false });
      this.stmt(d);
      this.value(t, d);
      this.labels.pop();
      this.emit('end');
    } else {
      this.leaf(t);
    }
  }

  /**
   * The shape that found defect 6: a block with results (sometimes several) holding values below a `br_if` that
   * carries its own, then the branch values dropped or stored to locals, the ones below becoming the results.
   */
  private branchBlock(t: T, d: number): void {
    const ts = this.resultTypes(t);
    this.emit(`block (result ${ts.join(' ')})`);
    this.labels.push({ types: ts, loop: false });
    if (this.chance(0.3)) this.stmt(d);
    this.values(ts, d);
    if (this.chance(0.3)) {
      // Nested: the branch leaves an inner block that has no results.
      this.emit('block');
      this.labels.push({ types: [], loop: false });
      this.values(ts, d);
      this.cond(d);
      this.emit('br_if 1');
      this.consume(ts);
      if (this.chance(0.3)) this.stmt(d);
      this.labels.pop();
      this.emit('end');
    } else {
      this.values(ts, d);
      this.cond(d);
      this.emit('br_if 0');
      // Mostly dropped, so what follows sits right after the br_if (the shape of defect 6).
      this.consume(ts, 0.7);
    }
    if (this.chance(0.5)) {
      // Replace the last few values below the branch's: a local.set right after dropped branch values.
      // The locals written are read back at once, so a value stored on the wrong path shows in the results.
      const k = 1 + Math.floor(this.rnd() * ts.length);
      const replaced = ts.slice(ts.length - k);
      const into = this.consume(replaced, 0.15);
      replaced.forEach((rt, j) => {
        const x = into[j];
        if (x !== undefined && this.chance(0.7)) this.emit(`local.get ${x}`);
        else this.value(rt, d);
      });
    }
    if (this.chance(0.3)) this.stmt(d);
    this.labels.pop();
    this.emit('end');
    this.consume(ts.slice(1));
  }

  /** br_table with a value, to two blocks of the same type; the inner one's result is combined again. */
  private brTableValue(t: T, d: number): void {
    this.emit(`block (result ${t})`, `block (result ${t})`);
    this.labels.push({ types: [t], loop: false }, { types: [t], loop: false });
    this.value(t, d);
    this.value('i32', d);
    const n = Math.floor(this.rnd() * 5);
    const targets = Array.from({ length: n + 1 }, () => String(Math.floor(this.rnd() * 2)));
    this.emit(`br_table ${targets.join(' ')}`);
    this.labels.pop();
    this.emit('end');
    this.value(t, d);
    this.emit(`${t}.${this.pick(BIN[t])}`);
    this.labels.pop();
    this.emit('end');
  }

  /** A counted loop producing a value; with a parameter, the value is carried from one iteration to the next. */
  private loopValue(t: T, d: number): void {
    const n = 1 + Math.floor(this.rnd() * 5);
    const counter = this.newLocal('i32');
    this.reserved.add(counter);
    this.emit(`i32.const ${n}`, `local.set ${counter}`);
    const outer = this.mult;
    this.mult *= n;
    const carried = this.chance(0.5);
    if (carried) {
      this.value(t, d);
      this.emit(`loop (param ${t}) (result ${t})`);
      this.labels.push({ types: [t], loop: true });
      this.value(t, d);
      this.emit(`${t}.${this.pick(BIN[t].filter((o) => !o.includes('div') && !o.includes('rem')))}`);
      if (this.chance(0.5)) this.stmt(d);
    } else {
      this.emit(`loop (result ${t})`);
      this.labels.push({ types: [], loop: true });
      this.stmt(d);
      this.value(t, d);
    }
    this.emit(`local.get ${counter}`, 'i32.const 1', 'i32.sub', `local.tee ${counter}`, 'br_if 0');
    this.labels.pop();
    this.emit('end');
    this.mult = outer;
  }

  /** A direct or indirect call of an earlier function (never this one: no recursion), fitted to type t. */
  private call(t: T | undefined, d: number): boolean {
    if (this.index === 0 || this.recursive) return false;
    const indirect = this.chance(0.3);
    const callee = Math.floor(this.rnd() * this.index);
    // An indirect call through a computed index may reach any earlier function: charge the dearest.
    const cost = indirect ? Math.max(...this.costs.slice(0, this.index)) : (this.costs[callee] as number);
    if (this.cost + this.mult * cost > CALL_COST_LIMIT) return false;
    const c = this.funcs[callee] as FuzzFunc;
    this.values(c.params, d);
    if (indirect) {
      if (this.chance(0.6)) this.emit(`i32.const ${callee}`);
      else {
        this.value('i32', 1);
        this.emit(`i32.const ${this.index}`, 'i32.rem_u');
      }
      this.emit(`call_indirect (type $t${callee})`);
    } else {
      this.emit(`call $f${callee}`);
    }
    this.cost += this.mult * cost;
    if (t === undefined) {
      this.consume(c.results);
      return true;
    }
    if (c.results.length === 0) {
      this.leaf(t);
      return true;
    }
    this.consume(c.results.slice(1));
    const first = c.results[0] as T;
    if (first !== t) this.emit(FIT[`${first}>${t}`] as string);
    return true;
  }

  /** Leaves the stack as it was. */
  stmt(depth: number): void {
    this.budget--;
    const d = Math.max(0, depth - 1);
    const r = this.rnd();
    if (depth <= 0 || this.budget <= 0) {
      this.emit('nop');
      return;
    }
    if (r < 0.18) {
      const t = this.pick(TYPES);
      this.address();
      this.value(t, d);
      this.scrub(t);
      this.emit(`${this.pick(STORES[t])} offset=${this.pick(['0', '0', '8', '65534'])}`);
    } else if (r < 0.28) {
      const t = this.pick(TYPES);
      this.value(t, d);
      this.emit(`global.set ${TYPES.indexOf(t)}`);
    } else if (r < 0.38) {
      const t = this.pick(TYPES);
      this.value(t, d);
      this.emit(`local.set ${this.localOf(t, true)}`);
    } else if (r < 0.44) {
      this.value(this.pick(TYPES), d);
      this.emit('drop');
    } else if (r < 0.56) {
      this.branchOut(d);
    } else if (r < 0.62) {
      this.emit('block');
      this.labels.push({ types: [], loop: false });
      this.stmt(d);
      this.stmt(d);
      this.labels.pop();
      this.emit('end');
    } else if (r < 0.69) {
      this.cond(d);
      this.emit('if');
      this.labels.push({ types: [], loop: false });
      this.stmt(d);
      if (this.chance(0.5)) {
        this.emit('else');
        this.stmt(d);
      }
      this.labels.pop();
      this.emit('end');
    } else if (r < 0.76) {
      const n = 1 + Math.floor(this.rnd() * 6);
      const counter = this.newLocal('i32');
      this.reserved.add(counter);
      const outer = this.mult;
      this.mult *= n;
      this.emit(`i32.const ${n}`, `local.set ${counter}`, 'loop');
      this.labels.push({ types: [], loop: true });
      this.stmt(d);
      this.stmt(d);
      this.emit(`local.get ${counter}`, 'i32.const 1', 'i32.sub', `local.tee ${counter}`, 'br_if 0');
      this.labels.pop();
      this.emit('end');
      this.mult = outer;
    } else if (r < 0.8) {
      this.brTableStmt(d);
    } else if (r < 0.84) {
      // memory.fill / memory.copy: small ranges in the first page, sometimes anywhere (then they trap).
      const wild = this.chance(0.1);
      this.value('i32', 1);
      if (!wild) this.emit('i32.const 0x3fff', 'i32.and');
      this.value('i32', 1);
      if (this.chance(0.5)) {
        this.value('i32', 1);
        if (!wild) this.emit('i32.const 0xff', 'i32.and');
        this.emit('memory.fill');
      } else {
        this.emit('i32.const 0x3fff', 'i32.and');
        this.value('i32', 1);
        if (!wild) this.emit('i32.const 0xff', 'i32.and');
        this.emit('memory.copy');
      }
    } else if (r < 0.9) {
      if (!this.call(undefined, d)) this.emit('nop');
    } else if (r < 0.915 && !this.recursive && this.mult === 1 && this.cost < 4000) {
      this.selfCall(d);
    } else if (r < 0.93 && this.chance(0.3)) {
      this.cond(d);
      this.emit('if', 'unreachable', 'end');
    } else if (r < 0.96) {
      // A return from inside: the function's results, then `return` (code after it is dead but still validated).
      this.cond(d);
      this.emit('if');
      this.labels.push({ types: [], loop: false });
      this.values(this.sig.results, d);
      this.emit('return');
      this.labels.pop();
      this.emit('end');
    } else {
      this.emit('nop');
    }
  }

  /**
   * Recursion, at most MAX_RECURSION deep: global 4 counts the frames (a trap leaves it raised, so later calls
   * recurse less; the same on every engine). Exercises the depth meter and the emulator's deeper call paths.
   */
  private selfCall(d: number): void {
    this.recursive = true;
    this.emit('global.get 4', `i32.const ${MAX_RECURSION}`, 'i32.lt_u', 'if');
    this.labels.push({ types: [], loop: false });
    this.emit('global.get 4', 'i32.const 1', 'i32.add', 'global.set 4');
    this.values(this.sig.params, d);
    this.emit(`call $f${this.index}`);
    this.consume(this.sig.results);
    this.emit('global.get 4', 'i32.const 1', 'i32.sub', 'global.set 4');
    this.labels.pop();
    this.emit('end');
  }

  /** br_if to an enclosing block (or the function) with the values it carries, then those values consumed. */
  private branchOut(d: number): void {
    const choices: number[] = [];
    this.labels.forEach((l, i) => {
      if (!l.loop) choices.push(this.labels.length - 1 - i);
    });
    if (choices.length === 0) {
      this.emit('nop');
      return;
    }
    const depth = this.pick(choices);
    const label = this.labels[this.labels.length - 1 - depth] as Label;
    this.values(label.types, d);
    this.cond(d);
    this.emit(`br_if ${depth}`);
    this.consume(label.types);
  }

  /** br_table over nested empty blocks, with statements between their ends. */
  private brTableStmt(d: number): void {
    const n = 2 + Math.floor(this.rnd() * 3);
    for (let i = 0; i < n; i++) {
      this.emit('block');
      this.labels.push({ types: [], loop: false });
    }
    this.value('i32', d);
    const targets = Array.from({ length: 1 + Math.floor(this.rnd() * 6) }, () => String(Math.floor(this.rnd() * n)));
    this.emit(`br_table ${targets.join(' ')}`);
    for (let i = 0; i < n; i++) {
      this.labels.pop();
      this.emit('end');
      if (i < n - 1 && this.chance(0.5)) this.stmt(d);
    }
  }
}

/** Builds the module of `seed`: the same seed always gives the same text. */
export function generateModule(seed: number): FuzzModule {
  const rnd = rng(seed);
  const pick = <X>(xs: readonly X[]): X => xs[Math.floor(rnd() * xs.length)] as X;
  const nfn = 2 + Math.floor(rnd() * 6);
  const funcs: FuzzFunc[] = [];
  const costs: number[] = [];
  const bodies: string[] = [];
  for (let i = 0; i < nfn; i++) {
    const params = Array.from({ length: Math.floor(rnd() * 4) }, () => pick(TYPES));
    const nres = rnd() < 0.15 ? 0 : rnd() < 0.8 ? 1 : 2;
    const results = Array.from({ length: nres }, () => pick(TYPES));
    const sig = { params, results };
    funcs.push(sig);
    const g = new FunctionGen(rnd, i, sig, funcs, costs);
    bodies.push(g.body());
    costs.push(g.recursive ? g.cost * (MAX_RECURSION + 1) : g.cost);
  }
  const sigText = (f: FuzzFunc): string =>
    `(func${f.params.length ? ` (param ${f.params.join(' ')})` : ''}${f.results.length ? ` (result ${f.results.join(' ')})` : ''})`;
  const wat = `(module
  ${funcs.map((f, i) => `(type $t${i} ${sigText(f)})`).join('\n  ')}
  (memory (export "memory") 1 4)
  (global (export "g0") (mut i32) (i32.const 7))
  (global (export "g1") (mut i64) (i64.const -3))
  (global (export "g2") (mut f32) (f32.const 1.5))
  (global (export "g3") (mut f64) (f64.const -2.25))
  (global (export "g4") (mut i32) (i32.const 0))
  (table ${nfn} funcref)
  (elem (i32.const 0) ${funcs.map((_, i) => `$f${i}`).join(' ')})
  (data (i32.const 0) "\\01\\02\\03\\04\\ff\\fe\\80\\7f\\00\\00\\c0\\7f\\00\\00\\f8\\ff")
  (data (i32.const 16380) "\\de\\ad\\be\\ef\\00\\01")
  ${bodies.join('\n  ')}
  ${funcs.map((_, i) => `(export "f${i}" (func $f${i}))`).join('\n  ')}
)`;
  return { seed, wat, funcs };
}

// The function-body rewriter: one streaming pass that inserts fuel charges, depth checks and write-backs.

import { Writer, lebSize } from './bytes.ts';
import { ModuleError, malformed, unsupported } from './errors.ts';
import { Feature } from './features.ts';
import { refusedType } from './decode.ts';
import { MEMORY_BYTES_SHIFT, MEMORY_GROW_PAGE_COST, TABLE_ELEMENT_COST } from './fuel-costs.ts';
import type { FuncType } from './decode.ts';

/** What the rewriter needs to know about the module around the bodies. */
export interface MeterConfig {
  fuel: boolean;
  depth: boolean;
  gFuel: number;
  gDepth: number;
  gFlags: number;
  /** Counts in the original module: an index at or past these is invalid (it could only reach our additions). */
  numFuncs: number;
  numGlobals: number;
  numTables: number;
  types: FuncType[];
  /** Encoded block type `[] -> results` for each function type index (for the wrapper block). */
  wrapperBlockType: (typeIndex: number) => Uint8Array;
}

export interface MeterCounters {
  functions: number;
  charges: number;
  loopChecks: number;
  callSites: number;
  returnSites: number;
  bulkSites: number;
  growSites: number;
  /**
   * Instructions that change state outside linear memory and globals (table.set/grow/fill/copy/init,
   * data.drop, elem.drop): a snapshot of memory and globals does not capture what they did.
   */
  untrackedStateSites: number;
}

const KIND_PLAIN = 0;
const KIND_LOOP = 1;

/** V8's limit on the number of locals in one function. */
const MAX_LOCALS = 50000;

const FLAG_OUT_OF_FUEL = 1;
const FLAG_STACK = 2;
const FLAG_GROW_FAILED = 4;

export { FLAG_OUT_OF_FUEL, FLAG_STACK, FLAG_GROW_FAILED };

export class BodyMeter {
  features = 0;
  readonly counters: MeterCounters = {
    functions: 0,
    charges: 0,
    loopChecks: 0,
    callSites: 0,
    returnSites: 0,
    bulkSites: 0,
    growSites: 0,
    untrackedStateSites: 0,
  };

  private readonly cfg: MeterConfig;
  private readonly out = new Writer(1 << 16);
  private pPos = new Int32Array(256);
  private pCost = new Float64Array(256);
  private pKind = new Uint8Array(256);
  /** Added to a point's charge when emitted: minus the speculative charge of a then-branch that was skipped. */
  private pAdjust = new Float64Array(256);
  /** Fuel charged at a point for then-branches that may not run; its check tolerates that much below zero. */
  private pSpec = new Float64Array(256);
  private nPoints = 0;
  /** Whether the current stretch has read the counter (call, bulk operation) since it started. */
  private curReads = false;
  // per open block, by nesting level: the then-point of an `if` whose first stretch is charged ahead (or -1),
  // and the point it is charged to
  private fThen = new Int32Array(64);
  private fContain = new Int32Array(64);
  private hasCall = false;
  /**
   * Whether the local counter may differ from the global. A call reloads the local, so until the next charge
   * (charges only happen at the start of a stretch, or at bulk operations) a second call or a return needs no
   * write-back: in `f(g(x), h(y))` only the first call stores.
   */
  private dirty = true;
  /** Whether some branch targets the function's own label (it arrives at the epilogue from anywhere). */
  private branchesToEnd = false;

  // per-body state
  private b: Uint8Array = new Uint8Array(0);
  private p = 0;
  private end = 0;
  private copyFrom = 0;
  private cost = 0;
  private numLocals = 0;
  private lFuel = 0;
  private lDepth = 0;
  private lT = 0;
  private lR = 0;

  constructor(cfg: MeterConfig) {
    this.cfg = cfg;
  }

  /** Rewrites one function body b[start, end) of function type `typeIndex`, appending it (size-prefixed) to `code`. */
  meter(b: Uint8Array, start: number, end: number, typeIndex: number, code: Writer): void {
    const cfg = this.cfg;
    const type = cfg.types[typeIndex];
    if (type === undefined)
      throw new ModuleError('INVALID', `function type ${typeIndex} out of range`, { offset: start });
    this.b = b;
    this.p = start;
    this.end = end;
    // locals
    const nEntries = this.u32();
    let total = type.params.length;
    for (let i = 0; i < nEntries; i++) {
      total += this.u32();
      if (total > MAX_LOCALS) throw new ModuleError('INVALID', 'too many locals', { offset: this.p });
      const t = b[this.p++];
      if (t === undefined || this.p > end) throw malformed('unexpected end in locals', this.p);
      this.valType(t);
    }
    const localsEnd = this.p;
    if (total + 4 > MAX_LOCALS)
      throw new ModuleError('LIMIT', `function has ${total} locals; no room for the meter's 4`, { offset: start });
    this.numLocals = total;
    this.lFuel = total;
    this.lDepth = total + (cfg.fuel ? 1 : 0);
    this.lT = this.lDepth + (cfg.depth ? 1 : 0);
    this.lR = this.lT + 1;

    this.out.len = 0;
    this.copyFrom = localsEnd;
    this.cost = 0;
    this.nPoints = 0;
    this.hasCall = false;
    this.dirty = true;
    this.branchesToEnd = false;
    this.curReads = false;
    this.pushPoint(0, KIND_PLAIN);
    this.scan();

    // assemble straight into `code` behind a 5-byte hole for the size, then close the hole
    const w = code;
    w.ensure(5);
    const sizeAt = w.len;
    w.len += 5;
    const wrap = cfg.fuel;
    w.u32(nEntries + (cfg.fuel ? 1 : 0) + 1);
    w.range(b, start + lebLen(b, start), localsEnd);
    if (cfg.fuel) {
      w.byte(1);
      w.byte(0x7e);
    }
    w.u32((cfg.depth ? 1 : 0) + 2);
    w.byte(0x7f);
    // A function that makes no call cannot deepen the stack or run unboundedly except through its loops
    // (checked at their headers): it skips the entry check and the depth count.
    const calls = this.hasCall;
    const countDepth = cfg.depth && calls;
    const entryCost = this.pCost[0]! + this.pAdjust[0]!;
    if (cfg.fuel && countDepth) this.emitEntryWithDepth(w, entryCost, this.pSpec[0]!);
    else {
      if (cfg.fuel) this.emitEntry(w, entryCost, this.pSpec[0]!, calls);
      if (countDepth) this.emitDepthPrologue(w);
    }
    if (wrap) w.bytes(cfg.wrapperBlockType(typeIndex));
    const out = this.out;
    const n = this.nPoints;
    let segStart = 0;
    for (let i = 1; i < n; i++) {
      const pos = this.pPos[i]!;
      w.range(out.buf, segStart, pos);
      segStart = pos;
      if (cfg.fuel) this.emitCharge(w, this.pCost[i]! + this.pAdjust[i]!, this.pSpec[i]!, this.pKind[i]!);
    }
    w.range(out.buf, segStart, out.len);
    const size = w.len - sizeAt - 5;
    const sizeLen = lebSize(size);
    w.buf.copyWithin(sizeAt + sizeLen, sizeAt + 5, w.len);
    w.len = sizeAt;
    w.u32(size);
    w.len = sizeAt + sizeLen + size;
    this.counters.functions++;
  }

  private scan(): void {
    const cfg = this.cfg;
    const b = this.b;
    const fuel = cfg.fuel;
    let depth = 1;
    for (;;) {
      if (this.p >= this.end) throw malformed('function body ends before its end', this.p);
      const at = this.p;
      const op = b[this.p++]!;
      if (op >= 0x45 && op <= 0xc4) {
        // numeric instructions without immediates
        this.cost++;
        if (op >= 0xc0) this.features |= Feature.signExt;
        continue;
      }
      switch (op) {
        case 0x20:
        case 0x21:
        case 0x22:
          this.cost++;
          if (this.u32() >= this.numLocals)
            throw new ModuleError('INVALID', 'local index out of range', { offset: at });
          break;
        case 0x23:
        case 0x24:
          this.cost++;
          if (this.u32() >= cfg.numGlobals)
            throw new ModuleError('INVALID', 'global index out of range', { offset: at });
          break;
        case 0x28:
        case 0x29:
        case 0x2a:
        case 0x2b:
        case 0x2c:
        case 0x2d:
        case 0x2e:
        case 0x2f:
        case 0x30:
        case 0x31:
        case 0x32:
        case 0x33:
        case 0x34:
        case 0x35:
        case 0x36:
        case 0x37:
        case 0x38:
        case 0x39:
        case 0x3a:
        case 0x3b:
        case 0x3c:
        case 0x3d:
        case 0x3e:
          this.cost++;
          this.memarg(at);
          break;
        case 0x41:
          this.cost++;
          this.skipLeb(5);
          break;
        case 0x42:
          this.cost++;
          this.skipLeb(10);
          break;
        case 0x43:
          this.cost++;
          this.skip(4);
          break;
        case 0x44:
          this.cost++;
          this.skip(8);
          break;
        case 0x00: // unreachable: write the counter back so a trap leaves it exact
          if (fuel && this.dirty) {
            this.flushTo(at);
            this.writeBack(this.out);
          }
          this.boundary(KIND_PLAIN);
          break;
        case 0x01:
        case 0x1a:
          break;
        case 0x02:
          this.blockType();
          this.openFrame(++depth, -1, 0);
          break;
        case 0x03:
          this.blockType();
          this.openFrame(++depth, -1, 0);
          this.boundary(KIND_LOOP);
          break;
        case 0x04: {
          this.cost++;
          this.blockType();
          // Charge the then-branch's first stretch together with the stretch holding the `if` (refunded on the
          // other path), so a loop written `loop (if cond (then body (br 0))))` pays once per iteration, not twice.
          // Not after a call or bulk operation in the stretch: they would see the counter low by the speculation.
          const contain = this.nPoints - 1;
          const eligible = fuel && !this.curReads;
          this.boundary(KIND_PLAIN);
          this.openFrame(++depth, eligible ? this.nPoints - 1 : -1, contain);
          break;
        }
        case 0x05: {
          this.finalizePoint();
          const refund = this.settleThen(depth);
          this.boundary(KIND_PLAIN);
          this.pAdjust[this.nPoints - 1] = -refund;
          break;
        }
        case 0x0b:
          if (--depth === 0) {
            this.finishBody(at);
            return;
          }
          this.finalizePoint();
          {
            // an `if` without `else` whose then-branch was charged ahead: refund it on the path that skips it
            const refund = this.settleThen(depth + 1);
            if (refund !== 0) {
              const out = this.out;
              this.flushTo(at);
              out.byte(0x05);
              out.byte(0x20);
              out.u32(this.lFuel);
              out.byte(0x42);
              out.sleb(refund);
              out.byte(0x7c); // i64.add
              out.byte(0x21);
              out.u32(this.lFuel);
            }
          }
          this.boundary(KIND_PLAIN);
          break;
        case 0x0c:
        case 0x0d:
          this.cost++;
          if (this.u32() === depth - 1) this.branchesToEnd = true;
          this.boundary(KIND_PLAIN);
          break;
        case 0x0e: {
          this.cost++;
          const n = this.u32();
          for (let i = 0; i <= n; i++) if (this.u32() === depth - 1) this.branchesToEnd = true;
          this.boundary(KIND_PLAIN);
          break;
        }
        case 0x0f:
          this.flushTo(at);
          this.emitEpilogue(this.out);
          this.counters.returnSites++;
          this.boundary(KIND_PLAIN);
          break;
        case 0x10:
          this.cost++;
          if (this.u32() >= cfg.numFuncs)
            throw new ModuleError('INVALID', 'function index out of range', { offset: at });
          this.aroundCall(at);
          break;
        case 0x11:
          this.cost++;
          if (this.u32() >= cfg.types.length)
            throw new ModuleError('INVALID', 'type index out of range', { offset: at });
          if (this.u32() !== 0) this.features |= Feature.referenceTypes;
          this.aroundCall(at);
          break;
        case 0x1b:
          this.cost++;
          break;
        case 0x1c: {
          this.cost++;
          const n = this.u32();
          for (let i = 0; i < n; i++) this.valType(this.byte());
          break;
        }
        case 0x25:
        case 0x26:
          this.cost++;
          if (op === 0x26) this.counters.untrackedStateSites++;
          this.tableIndex(at);
          this.features |= Feature.referenceTypes;
          break;
        case 0x3f:
          this.cost++;
          this.memIndex(at);
          break;
        case 0x40:
          this.cost++;
          this.memIndex(at);
          this.memoryGrow(at);
          break;
        case 0xd0: {
          this.cost++;
          const h = this.byte();
          if (h !== 0x70 && h !== 0x6f) throw refusedType(h, this.p - 1);
          this.features |= Feature.referenceTypes;
          break;
        }
        case 0xd1:
          this.cost++;
          this.features |= Feature.referenceTypes;
          break;
        case 0xd2:
          this.cost++;
          if (this.u32() >= cfg.numFuncs)
            throw new ModuleError('INVALID', 'function index out of range', { offset: at });
          this.features |= Feature.referenceTypes;
          break;
        case 0xfc:
          this.cost++;
          this.prefixFC(at);
          break;
        case 0xfd:
          this.cost++;
          this.prefixFD(at);
          break;
        default:
          throw refusedOpcode(op, at);
      }
    }
  }

  private prefixFC(at: number): void {
    const sub = this.u32();
    if (sub <= 7) {
      this.features |= Feature.satFloatToInt;
      return;
    }
    this.features |= Feature.bulkMemory;
    if (sub === 9 || sub === 12 || sub === 13 || sub === 14 || sub === 15 || sub === 17)
      this.counters.untrackedStateSites++;
    switch (sub) {
      case 8: // memory.init
        this.u32();
        this.memIndex(at);
        this.bulkCharge(at, MEMORY_BYTES_SHIFT);
        return;
      case 9: // data.drop
      case 13: // elem.drop
        this.u32();
        return;
      case 10: // memory.copy
        this.memIndex(at);
        this.memIndex(at);
        this.bulkCharge(at, MEMORY_BYTES_SHIFT);
        return;
      case 11: // memory.fill
        this.memIndex(at);
        this.bulkCharge(at, MEMORY_BYTES_SHIFT);
        return;
      case 12: // table.init
        this.u32();
        this.tableIndex(at);
        this.bulkCharge(at, 0);
        return;
      case 14: // table.copy
        this.tableIndex(at);
        this.tableIndex(at);
        this.bulkCharge(at, 0);
        return;
      case 15: // table.grow
        this.tableIndex(at);
        this.features |= Feature.referenceTypes;
        this.tableGrow(at);
        return;
      case 16: // table.size
        this.tableIndex(at);
        this.features |= Feature.referenceTypes;
        return;
      case 17: // table.fill
        this.tableIndex(at);
        this.features |= Feature.referenceTypes;
        this.bulkCharge(at, 0);
        return;
      default:
        throw unsupported(sub === 18 ? 'memory-control' : 'unknown', `instruction 0xfc ${sub}`, at);
    }
  }

  private prefixFD(at: number): void {
    this.features |= Feature.simd;
    const sub = this.u32();
    if (sub <= 11 || sub === 92 || sub === 93) {
      this.memarg(at);
    } else if (sub === 12 || sub === 13) {
      this.skip(16);
    } else if (sub >= 21 && sub <= 34) {
      this.skip(1);
    } else if (sub >= 84 && sub <= 91) {
      this.memarg(at);
      this.skip(1);
    } else if (sub > 255) {
      if (sub <= 0x113) throw unsupported('relaxed-simd', `instruction 0xfd ${sub}`, at);
      throw unsupported('unknown', `instruction 0xfd ${sub}`, at);
    }
  }

  // --- insertions -------------------------------------------------------------------------------

  /** Ends the current straight-line stretch after the instruction just read; a new charge point starts here. */
  private boundary(kind: number): void {
    this.dirty = true;
    this.curReads = false;
    this.flushTo(this.p);
    this.finalizePoint();
    this.pushPoint(this.out.len, kind);
  }

  private finalizePoint(): void {
    this.pCost[this.nPoints - 1]! += this.cost;
    this.cost = 0;
  }

  private openFrame(level: number, thenPoint: number, contain: number): void {
    if (level >= this.fThen.length) {
      const t = new Int32Array(level * 2);
      t.set(this.fThen);
      this.fThen = t;
      const c = new Int32Array(level * 2);
      c.set(this.fContain);
      this.fContain = c;
    }
    this.fThen[level] = thenPoint;
    this.fContain[level] = contain;
  }

  /** The then-branch at `level` is complete: move its first stretch's charge ahead; returns what to refund if skipped. */
  private settleThen(level: number): number {
    const t = this.fThen[level]!;
    if (t < 0) return 0;
    this.fThen[level] = -1;
    const amount = this.pCost[t]! + this.pAdjust[t]!;
    const c = this.fContain[level]!;
    this.pCost[c]! += amount;
    this.pSpec[c]! += amount;
    this.pCost[t] = 0;
    this.pAdjust[t] = 0;
    return amount;
  }

  private pushPoint(pos: number, kind: number): void {
    if (this.nPoints === this.pPos.length) {
      const cap = this.nPoints * 2;
      const pos2 = new Int32Array(cap);
      pos2.set(this.pPos);
      this.pPos = pos2;
      const cost2 = new Float64Array(cap);
      cost2.set(this.pCost);
      this.pCost = cost2;
      const kind2 = new Uint8Array(cap);
      kind2.set(this.pKind);
      this.pKind = kind2;
      const adj2 = new Float64Array(cap);
      adj2.set(this.pAdjust);
      this.pAdjust = adj2;
      const spec2 = new Float64Array(cap);
      spec2.set(this.pSpec);
      this.pSpec = spec2;
    }
    this.pPos[this.nPoints] = pos;
    this.pKind[this.nPoints] = kind;
    this.pCost[this.nPoints] = 0;
    this.pAdjust[this.nPoints] = 0;
    this.pSpec[this.nPoints] = 0;
    this.nPoints++;
  }

  private flushTo(pos: number): void {
    this.out.range(this.b, this.copyFrom, pos);
    this.copyFrom = pos;
  }

  private finishBody(at: number): void {
    this.flushTo(at);
    this.finalizePoint();
    const out = this.out;
    if (this.cfg.fuel) {
      out.byte(0x0b); // closes the wrapper block, so a branch to the function's label reaches the epilogue
      if (this.branchesToEnd) this.dirty = true;
      this.emitEpilogue(out);
    }
    out.byte(0x0b);
    this.copyFrom = this.p;
    if (this.p !== this.end) throw malformed('bytes after the end of a function body', this.p);
  }

  private aroundCall(at: number): void {
    this.counters.callSites++;
    this.hasCall = true;
    this.curReads = true;
    const cfg = this.cfg;
    if (!cfg.fuel && !cfg.depth) return;
    const out = this.out;
    this.flushTo(at);
    if (cfg.fuel && this.dirty) this.writeBack(out);
    if (cfg.depth) {
      // the callee's remaining depth is ours minus one (kept in a local since our prologue)
      out.byte(0x20);
      out.u32(this.lDepth);
      out.byte(0x24);
      out.u32(cfg.gDepth);
    }
    if (!cfg.fuel) return;
    this.flushTo(this.p);
    out.byte(0x23);
    out.u32(this.cfg.gFuel);
    out.byte(0x21);
    out.u32(this.lFuel);
    this.dirty = false;
  }

  /** Charges the length on top of the stack (i32), shifted right by `shift`, then checks the counter. */
  private bulkCharge(at: number, shift: number): void {
    this.counters.bulkSites++;
    this.curReads = true;
    if (!this.cfg.fuel) return;
    const out = this.out;
    this.flushTo(at);
    out.byte(0x22); // local.tee t
    out.u32(this.lT);
    out.byte(0x20);
    out.u32(this.lFuel);
    out.byte(0x20);
    out.u32(this.lT);
    out.byte(0xad); // i64.extend_i32_u
    if (shift !== 0) {
      out.byte(0x42);
      out.sleb(shift);
      out.byte(0x88); // i64.shr_u
    } else if (TABLE_ELEMENT_COST !== 1) {
      out.byte(0x42);
      out.sleb(TABLE_ELEMENT_COST);
      out.byte(0x7e);
    }
    out.byte(0x7d); // i64.sub
    this.emitCheckTee(out, 0);
    this.dirty = true;
  }

  /** memory.grow: charge pages on success; on failure (-1) set the grow-failed flag. */
  private memoryGrow(at: number): void {
    this.counters.growSites++;
    this.curReads = true;
    const cfg = this.cfg;
    const out = this.out;
    this.flushTo(at);
    if (cfg.fuel) {
      out.byte(0x22);
      out.u32(this.lT);
    }
    this.flushTo(this.p);
    out.byte(0x22);
    out.u32(this.lR);
    out.byte(0x41);
    out.byte(0x7f); // i32.const -1
    out.byte(0x46); // i32.eq
    out.byte(0x04);
    out.byte(0x40);
    out.byte(0x23);
    out.u32(cfg.gFlags);
    out.byte(0x41);
    out.byte(FLAG_GROW_FAILED);
    out.byte(0x72); // i32.or
    out.byte(0x24);
    out.u32(cfg.gFlags);
    if (cfg.fuel) {
      out.byte(0x05); // else
      out.byte(0x20);
      out.u32(this.lFuel);
      out.byte(0x20);
      out.u32(this.lT);
      out.byte(0xad);
      out.byte(0x42);
      out.sleb(MEMORY_GROW_PAGE_COST);
      out.byte(0x7e); // i64.mul
      out.byte(0x7d);
      out.byte(0x21);
      out.u32(this.lFuel);
      this.dirty = true;
    }
    out.byte(0x0b);
    out.byte(0x20);
    out.u32(this.lR);
  }

  /** table.grow: charge elements on success. */
  private tableGrow(at: number): void {
    this.counters.bulkSites++;
    this.curReads = true;
    if (!this.cfg.fuel) return;
    const out = this.out;
    this.flushTo(at);
    out.byte(0x22);
    out.u32(this.lT);
    this.flushTo(this.p);
    out.byte(0x22);
    out.u32(this.lR);
    out.byte(0x41);
    out.byte(0x7f);
    out.byte(0x47); // i32.ne
    out.byte(0x04);
    out.byte(0x40);
    out.byte(0x20);
    out.u32(this.lFuel);
    out.byte(0x20);
    out.u32(this.lT);
    out.byte(0xad);
    if (TABLE_ELEMENT_COST !== 1) {
      out.byte(0x42);
      out.sleb(TABLE_ELEMENT_COST);
      out.byte(0x7e);
    }
    out.byte(0x7d);
    out.byte(0x21);
    out.u32(this.lFuel);
    out.byte(0x0b);
    out.byte(0x20);
    out.u32(this.lR);
    this.dirty = true;
  }

  private writeBack(w: Writer): void {
    w.byte(0x20);
    w.u32(this.lFuel);
    w.byte(0x24);
    w.u32(this.cfg.gFuel);
  }

  /** Return paths: write the counter back. (The depth needs no restoring: every caller stores its own before each call.) */
  private emitEpilogue(w: Writer): void {
    if (this.cfg.fuel && this.dirty) this.writeBack(w);
  }

  /**
   * With the new counter on the stack: tee it into the local and trap if it went below zero — below `-spec`
   * when `spec` was charged ahead for a then-branch that has not run yet (the trap reports the counter without it).
   */
  private emitCheckTee(w: Writer, spec: number): void {
    w.byte(0x22);
    w.u32(this.lFuel);
    w.byte(0x42);
    w.sleb(-spec);
    w.byte(0x53); // i64.lt_s
    w.byte(0x04);
    w.byte(0x40);
    this.emitTrapArg(w, spec);
    w.byte(0x24);
    w.u32(this.cfg.gFuel);
    this.emitSetFlag(w, FLAG_OUT_OF_FUEL);
    w.byte(0x00);
    w.byte(0x0b);
  }

  /**
   * flags |= flag. Traps are inline rather than calls to a shared helper: a call inside a loop, even on a path
   * never taken, makes TurboFan spill every value live across it on the hot path (all wasm registers are
   * caller-saved), which cost up to 30% on a tight loop.
   */
  private emitSetFlag(w: Writer, flag: number): void {
    w.byte(0x23);
    w.u32(this.cfg.gFlags);
    w.byte(0x41);
    w.byte(flag);
    w.byte(0x72); // i32.or
    w.byte(0x24);
    w.u32(this.cfg.gFlags);
  }

  private emitTrapArg(w: Writer, spec: number): void {
    w.byte(0x20);
    w.u32(this.lFuel);
    if (spec !== 0) {
      w.byte(0x42);
      w.sleb(spec);
      w.byte(0x7c); // i64.add
    }
  }

  private emitEntry(w: Writer, cost: number, spec: number, check: boolean): void {
    this.counters.charges++;
    w.byte(0x23);
    w.u32(this.cfg.gFuel);
    if (cost !== 0) {
      w.byte(0x42);
      w.sleb(cost);
      w.byte(0x7d);
    }
    if (check) {
      this.emitCheckTee(w, spec);
    } else {
      w.byte(0x21);
      w.u32(this.lFuel);
    }
  }

  /**
   * Fuel and depth checked with one branch: `if ((fuel -= C) < 0 | depth == 0) trap; depth -= 1`. On V8 one
   * combined test costs markedly less than two in a hot prologue; the trap code tells the two apart.
   */
  private emitEntryWithDepth(w: Writer, cost: number, spec: number): void {
    const cfg = this.cfg;
    this.counters.charges++;
    w.byte(0x23);
    w.u32(cfg.gFuel);
    if (cost !== 0) {
      w.byte(0x42);
      w.sleb(cost);
      w.byte(0x7d);
    }
    w.byte(0x22);
    w.u32(this.lFuel);
    w.byte(0x42);
    w.sleb(-spec);
    w.byte(0x53); // i64.lt_s
    w.byte(0x23);
    w.u32(cfg.gDepth);
    w.byte(0x22);
    w.u32(this.lDepth);
    w.byte(0x45); // i32.eqz
    w.byte(0x72); // i32.or
    w.byte(0x04);
    w.byte(0x40);
    // trap: write the counter back (without the speculation), then flag out-of-fuel if it is negative, else stack
    this.emitTrapArg(w, spec);
    w.byte(0x22);
    w.u32(this.lFuel);
    w.byte(0x24);
    w.u32(cfg.gFuel);
    w.byte(0x23);
    w.u32(cfg.gFlags);
    w.byte(0x41);
    w.byte(FLAG_OUT_OF_FUEL);
    w.byte(0x41);
    w.byte(FLAG_STACK);
    w.byte(0x20);
    w.u32(this.lFuel);
    w.byte(0x42);
    w.byte(0x00);
    w.byte(0x53); // i64.lt_s
    w.byte(0x1b); // select
    w.byte(0x72); // i32.or
    w.byte(0x24);
    w.u32(cfg.gFlags);
    w.byte(0x00);
    w.byte(0x0b);
    w.byte(0x20);
    w.u32(this.lDepth);
    w.byte(0x41);
    w.byte(0x01);
    w.byte(0x6b); // i32.sub
    w.byte(0x21);
    w.u32(this.lDepth);
  }

  private emitCharge(w: Writer, cost: number, spec: number, kind: number): void {
    if (kind === KIND_LOOP) {
      this.counters.loopChecks++;
      this.counters.charges++;
      w.byte(0x20);
      w.u32(this.lFuel);
      if (cost !== 0) {
        w.byte(0x42);
        w.sleb(cost);
        w.byte(0x7d);
      }
      this.emitCheckTee(w, spec);
    } else if (cost !== 0) {
      this.counters.charges++;
      w.byte(0x20);
      w.u32(this.lFuel);
      w.byte(0x42);
      w.sleb(cost);
      w.byte(0x7d);
      w.byte(0x21);
      w.u32(this.lFuel);
    }
  }

  /** The depth check alone, when fuel is off (with fuel, emitEntryWithDepth checks both in one branch). */
  private emitDepthPrologue(w: Writer): void {
    const cfg = this.cfg;
    w.byte(0x23);
    w.u32(cfg.gDepth);
    w.byte(0x22);
    w.u32(this.lDepth);
    w.byte(0x45); // i32.eqz
    w.byte(0x04);
    w.byte(0x40);
    this.emitSetFlag(w, FLAG_STACK);
    w.byte(0x00);
    w.byte(0x0b);
    w.byte(0x20);
    w.u32(this.lDepth);
    w.byte(0x41);
    w.byte(0x01);
    w.byte(0x6b); // i32.sub
    w.byte(0x21);
    w.u32(this.lDepth);
  }

  // --- immediates -------------------------------------------------------------------------------

  private byte(): number {
    if (this.p >= this.end) throw malformed('unexpected end of function body', this.p);
    return this.b[this.p++]!;
  }

  private u32(): number {
    const b = this.b;
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.p >= this.end) throw malformed('unexpected end of function body', this.p);
      const x = b[this.p++]!;
      if (shift === 28) {
        if ((x & 0xf0) !== 0) throw malformed('u32 LEB128 too long', this.p - 1);
        return (result | (x << 28)) >>> 0;
      }
      result |= (x & 0x7f) << shift;
      if ((x & 0x80) === 0) return result >>> 0;
      shift += 7;
    }
  }

  private skipLeb(max: number): void {
    const b = this.b;
    const start = this.p;
    for (;;) {
      if (this.p >= this.end) throw malformed('unexpected end of function body', this.p);
      if ((b[this.p++]! & 0x80) === 0) return;
      if (this.p - start >= max) throw malformed('LEB128 too long', start);
    }
  }

  private skip(n: number): void {
    if (this.p + n > this.end) throw malformed('unexpected end of function body', this.p);
    this.p += n;
  }

  private memarg(at: number): void {
    const align = this.u32();
    if (align & 0x40) throw unsupported('multi-memory', 'memory index in a memory access', at);
    this.u32();
  }

  private memIndex(at: number): void {
    if (this.u32() !== 0) throw unsupported('multi-memory', 'memory index other than 0', at);
  }

  private tableIndex(at: number): void {
    const t = this.u32();
    if (t >= this.cfg.numTables) throw new ModuleError('INVALID', 'table index out of range', { offset: at });
    if (t !== 0) this.features |= Feature.referenceTypes;
  }

  private valType(t: number): void {
    if (t >= 0x7c && t <= 0x7f) return;
    if (t === 0x7b) this.features |= Feature.simd;
    else if (t === 0x70 || t === 0x6f) this.features |= Feature.referenceTypes;
    else throw refusedType(t, this.p - 1);
  }

  private blockType(): void {
    const c = this.b[this.p];
    if (c === undefined || this.p >= this.end) throw malformed('unexpected end of function body', this.p);
    if (c === 0x40) {
      this.p++;
      return;
    }
    if ((c & 0xc0) === 0x40) {
      // a one-byte negative s33: a value type
      this.p++;
      this.valType(c);
      return;
    }
    // a type index (non-negative s33)
    let v = 0;
    let mul = 1;
    for (let n = 0; ; n++) {
      const x = this.byte();
      v += (x & 0x7f) * mul;
      mul *= 128;
      if ((x & 0x80) === 0) {
        if (x & 0x40) throw malformed('bad block type', this.p - 1);
        break;
      }
      if (n >= 4) throw malformed('block type too long', this.p - 1);
    }
    if (v >= this.cfg.types.length)
      throw new ModuleError('INVALID', 'block type index out of range', { offset: this.p });
    this.features |= Feature.multiValue;
  }
}

function refusedOpcode(op: number, at: number): ModuleError {
  switch (op) {
    case 0x06:
    case 0x07:
    case 0x08:
    case 0x09:
    case 0x0a:
    case 0x18:
    case 0x19:
    case 0x1f:
      return unsupported('exception-handling', `instruction 0x${op.toString(16)}`, at);
    case 0x12:
    case 0x13:
      return unsupported('tail-call', `instruction 0x${op.toString(16)}`, at);
    case 0x14:
    case 0x15:
    case 0xd4:
    case 0xd5:
    case 0xd6:
      return unsupported('function-references', `instruction 0x${op.toString(16)}`, at);
    case 0xd3:
    case 0xfb:
      return unsupported('gc', `instruction 0x${op.toString(16)}`, at);
    case 0xfe:
      return unsupported('threads', 'atomic instruction', at);
    default:
      return malformed(`unknown opcode 0x${op.toString(16)}`, at);
  }
}

function lebLen(b: Uint8Array, at: number): number {
  let n = 1;
  while ((b[at + n - 1]! & 0x80) !== 0) n++;
  return n;
}

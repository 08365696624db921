// The fuel cost table (see docs/fuel.md): what each instruction is charged, as constants the rewriter emits.

/**
 * Instructions that cost nothing: they produce no machine work of their own in an optimizing engine
 * (structure, `nop`, `drop`) or end execution (`unreachable`, `return`), exactly as in wasmtime's fuel.
 * Every other instruction costs 1.
 */
export function baseCost(op: number): number {
  switch (op) {
    case 0x00: // unreachable
    case 0x01: // nop
    case 0x02: // block
    case 0x03: // loop
    case 0x05: // else
    case 0x0b: // end
    case 0x0f: // return
    case 0x1a: // drop
      return 0;
    default:
      return 1;
  }
}

/** memory.fill / memory.copy / memory.init pay one unit per 2^4 = 16 bytes, on top of their base cost of 1. */
export const MEMORY_BYTES_SHIFT = 4;
/** table.fill / table.copy / table.init / table.grow pay one unit per element. */
export const TABLE_ELEMENT_COST = 1;
/** A successful memory.grow pays per page what filling the page would cost (65536 / 16). */
export const MEMORY_GROW_PAGE_COST = 65536 >> MEMORY_BYTES_SHIFT;

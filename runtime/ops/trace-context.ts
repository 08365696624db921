// W3C Trace Context (`traceparent`) for messages: parse the header, make trace and span ids, format the header on.
import { randomFillSync } from 'node:crypto';

/** The header that carries a trace from message to message (https://www.w3.org/TR/trace-context/). */
export const TRACEPARENT_HEADER = 'traceparent';

export interface TraceParent {
  /** 32 lower-case hex digits, not all zero. */
  traceId: string;
  /** 16 lower-case hex digits, not all zero: the span the next one is a child of. */
  spanId: string;
  /** The sampled flag (trace-flags bit 0). */
  sampled: boolean;
}

// version 00 exactly; a later version may append fields after a dash, which a version-00 parser ignores.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** The parent a `traceparent` value names, or undefined for a missing or malformed one (a new trace starts). */
export function parseTraceParent(value: string | undefined): TraceParent | undefined {
  if (value === undefined) return undefined;
  const m = TRACEPARENT.exec(value.trim());
  if (m === null) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string?];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

export function formatTraceParent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

// Ids come from one pooled buffer: a span costs a fill of 8 or 16 bytes, not a crypto call per id.
const pool = new Uint8Array(4096);
let at = pool.length;

function randomHex(bytes: number): string {
  if (at + bytes > pool.length) {
    randomFillSync(pool);
    at = 0;
  }
  let hex = '';
  for (let i = 0; i < bytes; i++) hex += (pool[at + i]! | 0x100).toString(16).slice(1);
  at += bytes;
  // All zero is invalid in W3C Trace Context; 2^-64 at worst, but cheap to rule out.
  return /^0+$/.test(hex) ? randomHex(bytes) : hex;
}

export function newTraceId(): string {
  return randomHex(16);
}

export function newSpanId(): string {
  return randomHex(8);
}

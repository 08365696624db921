// A growable byte buffer the audit log builds its lines in: fixed parts copied from cached bytes, numbers as digits, no intermediate strings.

/** `"` */
const QUOTE = 0x22;

/**
 * A duration in ms rounded to the microsecond, as JSON: the same text as `String(Math.round(ms * 1000) / 1000)`,
 * built from integers. A clock difference has ~16 significant digits, and turning that double into its shortest
 * decimal was the most expensive part of a line (about 1 µs); the trail never had more than microsecond meaning.
 */
export function durationJson(ms: number): string {
  if (!Number.isFinite(ms)) return 'null';
  const us = Math.round(ms * 1000);
  if (us < 0 || us > Number.MAX_SAFE_INTEGER) return String(us / 1000);
  const whole = Math.trunc(us / 1000);
  const frac = us - whole * 1000;
  if (frac === 0) return String(whole);
  // Three digits, then trailing zeros dropped: 50 → "05", 500 → "5".
  if (frac % 100 === 0) return `${whole}.${frac / 100}`;
  if (frac % 10 === 0) return `${whole}.${frac < 100 ? '0' : ''}${frac / 10}`;
  return `${whole}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
}

/**
 * Lines are appended at `used`; the owner writes `buffer[0, used)` and calls `reset`. Growing copies what is
 * there, so a line always lands whole in one buffer.
 */
export class LineBuffer {
  buffer: Buffer;
  used = 0;

  constructor(size = 64 * 1024) {
    this.buffer = Buffer.allocUnsafe(size);
  }

  reserve(n: number): void {
    if (this.used + n <= this.buffer.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.used + n));
    this.buffer.copy(next, 0, 0, this.used);
    this.buffer = next;
  }

  reset(): void {
    this.used = 0;
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buffer.set(b, this.used);
    this.used += b.length;
  }

  /** A string known to be ASCII (digits, hex, an ISO date): one byte per character, no UTF-8 encoding. */
  ascii(s: string): void {
    this.reserve(s.length);
    this.used += this.buffer.write(s, this.used, 'latin1');
  }

  /** Any string, as UTF-8. */
  text(s: string): void {
    this.reserve(s.length * 3);
    this.used += this.buffer.write(s, this.used, 'utf8');
  }

  /** A hex id in quotes. */
  quotedAscii(s: string): void {
    this.reserve(s.length + 2);
    const b = this.buffer;
    b[this.used++] = QUOTE;
    this.used += b.write(s, this.used, 'latin1');
    b[this.used++] = QUOTE;
  }

  /** A number as JSON writes it: small non-negative integers (counts, fuel, bytes) digit by digit, the rest by String. */
  number(n: number): void {
    if (n >= 0 && n <= 0x7fffffff && (n | 0) === n) {
      let digits = 1;
      for (let t = n; t >= 10; t = (t / 10) | 0) digits++;
      this.reserve(digits);
      const b = this.buffer;
      let at = this.used + digits;
      this.used = at;
      let t = n;
      do {
        b[--at] = 0x30 + (t % 10);
        t = (t / 10) | 0;
      } while (t > 0);
      return;
    }
    this.ascii(Number.isFinite(n) ? String(n) : 'null');
  }
}

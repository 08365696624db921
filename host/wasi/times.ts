// Exact nanosecond timestamps for files whose times the guest set: Node's utimes takes doubles and loses the last digits.

import type { BigIntStats } from 'node:fs';

interface Recorded {
  atimNs: bigint;
  mtimNs: bigint;
  hostAtimNs: bigint;
  hostMtimNs: bigint;
}

/**
 * Remembers what the guest asked for next to what the host stored; a later stat reports the guest's exact
 * value for as long as the host's value is still the one we wrote (any other change to the file shows through).
 */
export class TimeOverlay {
  private readonly byInode = new Map<string, Recorded>();

  record(after: BigIntStats, atimNs: bigint, mtimNs: bigint): void {
    this.byInode.set(`${after.dev}:${after.ino}`, {
      atimNs,
      mtimNs,
      hostAtimNs: after.atimeNs,
      hostMtimNs: after.mtimeNs,
    });
  }

  times(st: BigIntStats): { atim: bigint; mtim: bigint } {
    const r = this.byInode.get(`${st.dev}:${st.ino}`);
    return {
      atim: r !== undefined && r.hostAtimNs === st.atimeNs ? r.atimNs : st.atimeNs,
      mtim: r !== undefined && r.hostMtimNs === st.mtimeNs ? r.mtimNs : st.mtimeNs,
    };
  }
}

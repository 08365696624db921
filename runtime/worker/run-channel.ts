// Both halves of the shared-memory run channel: one run at a time to an idle worker, and its completion back, without a message.
//
// A SharedArrayBuffer per worker holds one request slot and one response slot. The host writes a run and bumps
// REQ (Atomics.notify); the worker, which spins briefly after each answer and otherwise sleeps in Atomics.waitAsync,
// runs it and bumps RESP; the host awaits RESP with Atomics.waitAsync, which settles at once when the worker was
// quick. Batches, control messages and anything that does not fit keep going by postMessage. A request carries how
// many messages the host had posted before it, so the worker never runs it ahead of an earlier message (a load).

/** Int32 indexes of the header. */
const REQ = 0; // requests written so far (host)
const RESP = 1; // requests answered so far (worker)
const REQ_LEN = 2;
const REQ_AGENT = 3;
const REQ_SEQ = 4;
const REQ_POSTED = 5; // messages the host had posted before this request
const RESP_LEN = 6; // bytes of the packed completions, or -1 when they went by postMessage
const HEADER_BYTES = 64;

/** Largest input and largest packed completions the slots carry; bigger ones use postMessage. */
export const REQUEST_CAPACITY = 16 * 1024;
const RESPONSE_CAPACITY = 64 * 1024;

export function createRunChannel(): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + REQUEST_CAPACITY + RESPONSE_CAPACITY);
}

/** Atomics.waitAsync (ES2024, in Node since 16), typed here because the project's lib predates it. */
type WaitAsync = (
  array: Int32Array,
  index: number,
  value: number,
) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

/** The host's end: sends one run, then awaits its completions. */
export class RunChannelHost {
  private readonly header: Int32Array;
  private readonly request: Uint8Array;
  private readonly response: Uint8Array;
  private sent = 0;
  /** A run is in the slot and its answer has not been read. */
  busy = false;
  /** Set when the worker is gone: a waiting read gives up. */
  private closed = false;

  constructor(buffer: SharedArrayBuffer) {
    this.header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.request = new Uint8Array(buffer, HEADER_BYTES, REQUEST_CAPACITY);
    this.response = new Uint8Array(buffer, HEADER_BYTES + REQUEST_CAPACITY, RESPONSE_CAPACITY);
  }

  /** Puts a run (input ≤ REQUEST_CAPACITY) in the slot; its answer is read with `answer()`. */
  send(seq: number, agentId: number, input: Uint8Array, posted: number): void {
    this.busy = true;
    const h = this.header;
    this.request.set(input);
    h[REQ_LEN] = input.length;
    h[REQ_AGENT] = agentId;
    h[REQ_SEQ] = seq;
    h[REQ_POSTED] = posted;
    Atomics.store(h, REQ, ++this.sent);
    Atomics.notify(h, REQ);
  }

  /**
   * The answer to the run in the slot, if it has come: its packed completions, or null when they come by message
   * instead; false while there is none. Read it before any message from the worker, which may have been sent after it.
   */
  answer(): Uint8Array | null | false {
    if (!this.busy || Atomics.load(this.header, RESP) !== this.sent) return false;
    this.busy = false;
    const length = this.header[RESP_LEN]!;
    return length < 0 ? null : this.response.slice(0, length);
  }

  /** Resolves when the worker may have answered (or the channel was closed); true while it is worth waiting. */
  async wait(): Promise<boolean> {
    if (this.closed || !this.busy) return false;
    const answered = Atomics.load(this.header, RESP);
    if (answered === this.sent) return true;
    const wait = waitAsync(this.header, RESP, answered);
    if (wait.async) await wait.value;
    return !this.closed;
  }

  /** The worker was replaced or closed: a run waiting here is replayed or settled by the caller. */
  close(): void {
    this.closed = true;
    Atomics.notify(this.header, RESP);
  }
}

/** The worker's end: finds runs in the slot and answers them. */
export class RunChannelWorker {
  private readonly header: Int32Array;
  private readonly request: Uint8Array;
  private readonly response: Uint8Array;
  private seen = 0;
  private waiting = false;

  constructor(buffer: SharedArrayBuffer) {
    this.header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.request = new Uint8Array(buffer, HEADER_BYTES, REQUEST_CAPACITY);
    this.response = new Uint8Array(buffer, HEADER_BYTES + REQUEST_CAPACITY, RESPONSE_CAPACITY);
  }

  /** The run in the slot, if there is a new one the worker may take now (every message posted before it received). */
  take(received: number): { seq: number; agentId: number; input: Uint8Array } | null {
    const h = this.header;
    const n = Atomics.load(h, REQ);
    if (n === this.seen || h[REQ_POSTED]! > received) return null;
    this.seen = n;
    return { seq: h[REQ_SEQ]!, agentId: h[REQ_AGENT]!, input: this.request.slice(0, h[REQ_LEN]!) };
  }

  /** Whether packed completions fit the response slot. */
  fits(packed: Uint8Array): boolean {
    return packed.length <= this.response.length;
  }

  /** Answers the run taken last: its packed completions, or null when they were posted instead (too large). */
  answer(packed: Uint8Array | null): void {
    const h = this.header;
    if (packed !== null && packed.length <= this.response.length) {
      this.response.set(packed);
      h[RESP_LEN] = packed.length;
    } else {
      h[RESP_LEN] = -1;
    }
    Atomics.store(h, RESP, this.seen);
    Atomics.notify(h, RESP);
  }

  /** A request is in the slot that has not been taken (it may wait for earlier messages). */
  hasNew(): boolean {
    return Atomics.load(this.header, REQ) !== this.seen;
  }

  /** True once a new request is in the slot, polling for up to `ms`: the next run of a caller awaiting one at a time comes within microseconds. */
  spin(ms: number): boolean {
    const until = performance.now() + ms;
    do {
      if (Atomics.load(this.header, REQ) !== this.seen) return true;
    } while (performance.now() < until);
    return false;
  }

  /** Calls `wake` (once) when the host writes a new request; the thread sleeps meanwhile. */
  sleep(wake: () => void): void {
    if (this.waiting) return;
    const wait = waitAsync(this.header, REQ, this.seen);
    if (!wait.async) {
      wake();
      return;
    }
    this.waiting = true;
    void wait.value.then(() => {
      this.waiting = false;
      wake();
    });
  }
}

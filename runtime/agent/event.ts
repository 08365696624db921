// An event as the guest emitted it: its topic and MessagePack bytes, decoded into `payload` only when someone reads it.
import { decode } from '../codec.ts';
import type { AgentEvent } from './types.ts';

const UNREAD: unique symbol = Symbol('unread');

/**
 * The bytes travel unchanged from guest memory to `publish` (checked once, at the guest boundary, to be one
 * MessagePack value). `payload` is an own, enumerable accessor so that the event still compares, prints and
 * serialises as `{ topic, payload }`; `bytes` lives on the prototype for the same reason.
 */
export class EmittedEvent implements AgentEvent {
  readonly topic: string;
  declare readonly payload: unknown;
  readonly #bytes: Uint8Array;
  #value: unknown = UNREAD;

  static readonly #payload: PropertyDescriptor = {
    enumerable: true,
    configurable: true,
    get(this: EmittedEvent): unknown {
      // decode() throws a RangeError for bytes the structural check admits but the decoder cannot build (nesting
      // deeper than the JS stack): such an event was published as emitted; only reading it here fails.
      if (this.#value === UNREAD) this.#value = decode(this.#bytes);
      return this.#value;
    },
  };

  constructor(topic: string, bytes: Uint8Array) {
    this.topic = topic;
    this.#bytes = bytes;
    Object.defineProperty(this, 'payload', EmittedEvent.#payload);
  }

  /** The payload as the guest's MessagePack bytes (what a publisher sends). */
  get bytes(): Uint8Array {
    return this.#bytes;
  }
}

/** Payloads under this size share pool buffers; larger ones get a buffer of their own. */
const POOLED_MAX = 1024;
const POOL_SIZE = 8 * 1024;
let pool = new Uint8Array(POOL_SIZE);
let poolUsed = 0;

/**
 * A copy of an event payload that outlives the memory it was read from (guest memory, a worker's batch). Small
 * payloads are carved out of a shared pool, as Node's Buffer.allocUnsafe does: a typed array with a buffer of its own
 * costs more than copying its bytes. A pool is never written twice, so a copy may pin at most one pool (8 KiB).
 */
export function keepEventBytes(bytes: Uint8Array): Uint8Array {
  const n = bytes.length;
  if (n > POOLED_MAX) return new Uint8Array(bytes);
  if (poolUsed + n > POOL_SIZE) {
    pool = new Uint8Array(POOL_SIZE);
    poolUsed = 0;
  }
  const copy = pool.subarray(poolUsed, poolUsed + n);
  copy.set(bytes);
  // 8-byte aligned, as Node aligns its pool slices.
  poolUsed = (poolUsed + n + 7) & ~7;
  return copy;
}

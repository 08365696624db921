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

// The `sandbox:agent/host` interface a component imports: emit, log, now, random, with values instead of pointers.
import { randomBytes } from 'node:crypto';
import { LOG_LEVELS, MAX_TOPIC_BYTES, TOPIC_PATTERN } from '../../host/abi.ts';
import type { RunContext } from '../../host/run-context.ts';
import { EmittedEvent, keepEventBytes } from '../agent/event.ts';
import { checkMessagePack } from '../codec.ts';

/** The WIT enum `status`: jco lowers these strings to the enum's cases. */
export type HostStatus = 'ok' | 'limit' | 'invalid';

const utf8 = new TextEncoder();

/**
 * Same rules as the core ABI's `sandbox` module (host/sandbox-imports.ts), on lifted values: jco's glue has already
 * read the guest's memory. `beforeCall` runs first on every call: the guest settles its fuel there.
 */
export function componentHostImports(
  ctx: () => RunContext,
  beforeCall: () => void,
  options: { now?: () => bigint } = {},
) {
  const now = options.now ?? (() => BigInt(Date.now()));
  // A component built against a different `host` interface of the same name gets values of other types.
  const mismatch = (call: string): HostStatus => {
    ctx().fail(
      'abi-violation',
      `${call}() received values of the wrong types: the component's sandbox:agent/host does not match wit/agent.wit`,
    );
    return 'invalid';
  };

  return {
    emit(topic: unknown, payload: unknown): HostStatus {
      beforeCall();
      const c = ctx();
      if (typeof topic !== 'string' || !(payload instanceof Uint8Array)) return mismatch('emit');
      if (utf8.encode(topic).length > MAX_TOPIC_BYTES) {
        c.fail('abi-violation', `emit() topic is longer than ${MAX_TOPIC_BYTES} bytes`);
        return 'invalid';
      }
      if (!TOPIC_PATTERN.test(topic)) {
        c.fail('abi-violation', `emit() topic ${JSON.stringify(topic)} is not dot-separated tokens of [A-Za-z0-9_-]`);
        return 'invalid';
      }
      if (c.events.length >= c.limits.maxEvents || c.eventBytes + payload.length > c.limits.eventBytes) {
        c.fail(
          'limit-exceeded',
          `emit() past the event limit (${c.limits.maxEvents} events, ${c.limits.eventBytes} bytes per run)`,
        );
        return 'limit';
      }
      const problem = checkMessagePack(payload);
      if (problem !== null) {
        c.fail('abi-violation', `emit() payload for ${topic} is not MessagePack: ${problem}`);
        return 'invalid';
      }
      c.events.push(new EmittedEvent(topic, keepEventBytes(payload)));
      c.eventBytes += payload.length;
      return 'ok';
    },

    log(level: unknown, message: unknown): HostStatus {
      beforeCall();
      const c = ctx();
      const index = LOG_LEVELS.indexOf(level as (typeof LOG_LEVELS)[number]);
      if (index < 0 || typeof message !== 'string') return mismatch('log');
      if (!c.admitLog(Buffer.byteLength(message))) return 'limit';
      c.logs.push({ level: LOG_LEVELS[index]!, message });
      return 'ok';
    },

    now(): bigint {
      beforeCall();
      return now();
    },

    random(len: unknown): Uint8Array {
      beforeCall();
      const c = ctx();
      if (typeof len !== 'number') {
        mismatch('random');
        return new Uint8Array(0);
      }
      // The bytes must fit in the guest's memory anyway; refusing earlier keeps a huge request off the host's heap.
      if (len > c.limits.memoryBytes) {
        c.fail(
          'limit-exceeded',
          `random(${len}) asks for more bytes than the memory limit of ${c.limits.memoryBytes} bytes`,
        );
        return new Uint8Array(0);
      }
      return new Uint8Array(randomBytes(len));
    },
  };
}

// The `sandbox` import module: output, emit, log, now, random. Every call checks its pointers and returns a status code.
import { randomFillSync } from 'node:crypto';
import { EmittedEvent, keepEventBytes } from '../runtime/agent/event.ts';
import { checkMessagePack } from '../runtime/codec.ts';
import { HostStatus, LOG_LEVELS, MAX_TOPIC_BYTES, TOPIC_PATTERN } from './abi.ts';
import type { GuestMemory } from './guest-memory.ts';
import type { RunContext } from './run-context.ts';

export interface SandboxImportsOptions {
  /** Fixed clock for replayable runs; the default is the wall clock. */
  now?: () => bigint;
}

export function sandboxImports(memory: GuestMemory, ctx: () => RunContext, options: SandboxImportsOptions = {}) {
  const now = options.now ?? (() => BigInt(Date.now()));

  const bounds = (call: string, ptr: number, len: number): number => {
    ctx().fail(
      'abi-violation',
      `${call}() was passed bytes outside guest memory (ptr=${ptr >>> 0}, len=${len >>> 0}, memory=${memory.byteLength} bytes)`,
    );
    return HostStatus.E_BOUNDS;
  };

  return {
    output(ptr: number, len: number): number {
      const c = ctx();
      if (len >>> 0 > c.limits.outputBytes) {
        c.fail(
          'limit-exceeded',
          `output of ${len >>> 0} bytes exceeds the output limit of ${c.limits.outputBytes} bytes`,
        );
        return HostStatus.E_LIMIT;
      }
      const bytes = memory.copy(ptr, len);
      if (bytes === null) return bounds('output', ptr, len);
      c.output = bytes;
      return HostStatus.OK;
    },

    emit(topicPtr: number, topicLen: number, payloadPtr: number, payloadLen: number): number {
      const c = ctx();
      if (topicLen >>> 0 > MAX_TOPIC_BYTES) {
        c.fail('abi-violation', `emit() topic is ${topicLen >>> 0} bytes; the limit is ${MAX_TOPIC_BYTES}`);
        return HostStatus.E_INVALID;
      }
      const topic = memory.utf8(topicPtr, topicLen);
      if (topic === null) return bounds('emit', topicPtr, topicLen);
      const payload = memory.view(payloadPtr, payloadLen);
      if (payload === null) return bounds('emit', payloadPtr, payloadLen);
      if (topic === undefined || !TOPIC_PATTERN.test(topic)) {
        c.fail(
          'abi-violation',
          `emit() topic ${JSON.stringify(topic ?? '<invalid UTF-8>')} is not dot-separated tokens of [A-Za-z0-9_-]`,
        );
        return HostStatus.E_INVALID;
      }
      if (c.events.length >= c.limits.maxEvents || c.eventBytes + payload.length > c.limits.eventBytes) {
        c.fail(
          'limit-exceeded',
          `emit() past the event limit (${c.limits.maxEvents} events, ${c.limits.eventBytes} bytes per run)`,
        );
        return HostStatus.E_LIMIT;
      }
      // Checked, not decoded: the bytes travel to `publish` as they are (a copy: guest memory changes on), and are
      // decoded only where someone reads them.
      const problem = checkMessagePack(payload);
      if (problem !== null) {
        c.fail('abi-violation', `emit() payload for ${topic} is not MessagePack: ${problem}`);
        return HostStatus.E_INVALID;
      }
      c.events.push(new EmittedEvent(topic, keepEventBytes(payload)));
      c.eventBytes += payload.length;
      return HostStatus.OK;
    },

    log(level: number, ptr: number, len: number): number {
      const c = ctx();
      if (memory.view(ptr, len) === null) return bounds('log', ptr, len);
      // Checked before decoding: a 16 MiB line past the limits costs the host nothing.
      if (!c.admitLog(len >>> 0)) return HostStatus.E_LIMIT;
      const message = memory.utf8(ptr, len);
      if (message === null) return bounds('log', ptr, len);
      if (message === undefined) {
        c.fail('abi-violation', 'log() message is not valid UTF-8');
        return HostStatus.E_INVALID;
      }
      c.logs.push({ level: LOG_LEVELS[Math.min(Math.max(level | 0, 0), 3)]!, message });
      return HostStatus.OK;
    },

    now(): bigint {
      return now();
    },

    random(ptr: number, len: number): number {
      const view = memory.view(ptr, len);
      if (view === null) return bounds('random', ptr, len);
      randomFillSync(view);
      return HostStatus.OK;
    },
  };
}

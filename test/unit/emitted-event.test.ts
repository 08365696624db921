// Events as the guest emitted them: bytes kept, payload decoded on first read, compared and serialised as { topic, payload }.
import { describe, expect, it } from 'vitest';
import { EmittedEvent } from '../../runtime/agent/event.ts';
import { encode } from '../../runtime/codec.ts';

describe('EmittedEvent', () => {
  it('keeps the bytes and decodes the payload once, when read', () => {
    const bytes = encode({ n: 1, tags: ['a'] });
    const event = new EmittedEvent('alerts.db', bytes);
    expect(event.bytes).toBe(bytes);
    expect(event.payload).toEqual({ n: 1, tags: ['a'] });
    expect(event.payload).toBe(event.payload);
  });

  it('compares, spreads and serialises as { topic, payload }, as a decoded event did', () => {
    const event = new EmittedEvent('alerts.db', encode({ n: 1 }));
    expect(event).toEqual({ topic: 'alerts.db', payload: { n: 1 } });
    expect(Object.keys(event)).toEqual(['topic', 'payload']);
    expect(JSON.parse(JSON.stringify(event))).toEqual({ topic: 'alerts.db', payload: { n: 1 } });
    expect(structuredClone(event)).toEqual({ topic: 'alerts.db', payload: { n: 1 } });
  });

  it('throws a RangeError on reading a payload the decoder cannot build, never before', () => {
    const event = new EmittedEvent('t', new Uint8Array([0xc1]));
    expect(() => event.payload).toThrow(RangeError);
  });
});

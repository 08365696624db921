// The batch transport between worker and host: outputs spliced as raw MessagePack, decoded once on the host.
import { describe, expect, it } from 'vitest';
import { EmittedEvent } from '../../runtime/agent/event.ts';
import { hostOutcome, type GuestOutcome } from '../../runtime/agent/outcome.ts';
import { decode, encode } from '../../runtime/codec.ts';
import { packCompletions, packRuns, unpackCompletions } from '../../runtime/worker/batch-codec.ts';

function ok(output: Uint8Array | undefined, extra: Partial<GuestOutcome> = {}): GuestOutcome {
  const r: GuestOutcome = {
    ...hostOutcome('ok', 'wasm'),
    fuelUsed: 42,
    memoryPeakBytes: 65536,
    durationMs: 0.5,
    ...extra,
  };
  if (output) r.rawOutput = output;
  return r;
}

describe('transport', () => {
  it("carries a keyed agent's exported state image with its result (cluster mode)", () => {
    const image = new Uint8Array([1, 0, 3, 250, 7]);
    const [back] = unpackCompletions(packCompletions([{ seq: 9, result: ok(encode({ count: 1 }), { state: image }) }]));
    expect(back!.result.output).toEqual({ count: 1 });
    expect(new Uint8Array(back!.result.state!)).toEqual(image);
  });

  it('round-trips results with and without outputs, events, logs and messages', () => {
    const completions = [
      { seq: 1, result: ok(encode({ count: 3, big: 2n ** 60n })) },
      {
        seq: 2,
        result: ok(undefined, {
          events: [new EmittedEvent('a.b', encode({ x: 1 }))],
          logs: [{ level: 'info', message: 'hi' }],
          logsDropped: 2,
        }),
      },
      { seq: 0x7fffffff, result: { ...hostOutcome('error', 'emulator', 'bad input'), errorCode: 7 } },
    ];
    const back = unpackCompletions(packCompletions(completions));
    expect(back.map((c) => c.seq)).toEqual([1, 2, 0x7fffffff]);
    expect(back[0]!.result).toEqual({
      ...hostOutcome('ok', 'wasm'),
      fuelUsed: 42,
      memoryPeakBytes: 65536,
      durationMs: 0.5,
      output: { count: 3, big: 2n ** 60n },
    });
    expect(back[1]!.result).toMatchObject({
      status: 'ok',
      output: null,
      events: [{ topic: 'a.b', payload: { x: 1 } }],
      logs: [{ level: 'info', message: 'hi' }],
      logsDropped: 2,
    });
    expect(back[2]!.result).toMatchObject({
      status: 'error',
      engine: 'emulator',
      message: 'bad input',
      errorCode: 7,
      fuelUsed: null,
    });
  });

  it('carries event payloads as the bytes the guest emitted: not re-encoded, not views into the batch', () => {
    // A map16 holding a float64 1.0: a decode and re-encode would give the shorter `81 a1 61 01`.
    const bytes = new Uint8Array([0xde, 0x00, 0x01, 0xa1, 0x61, 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]);
    expect([...encode(decode(bytes))]).not.toEqual([...bytes]);
    const packed = packCompletions([{ seq: 1, result: ok(undefined, { events: [new EmittedEvent('a.b', bytes)] }) }]);
    const [event] = unpackCompletions(packed)[0]!.result.events;
    expect([...event!.bytes]).toEqual([...bytes]);
    expect(event!.bytes.buffer).not.toBe(packed.buffer);
    expect(event).toEqual({ topic: 'a.b', payload: { a: 1 } });
  });

  it('turns an output the decoder refuses into invalid-output without losing the rest of the batch', () => {
    // Arrays nested deeper than the decoder's stack: structurally MessagePack (the walk is iterative), not decodable.
    const tooDeep = new Uint8Array(200_001).fill(0x91);
    tooDeep[200_000] = 0xc0;
    const back = unpackCompletions(
      packCompletions([
        { seq: 1, result: ok(encode('fine')) },
        { seq: 2, result: ok(tooDeep) },
        { seq: 3, result: ok(encode([1, 2])) },
      ]),
    );
    expect(back.map((c) => [c.seq, c.result.status, c.result.output])).toEqual([
      [1, 'ok', 'fine'],
      [2, 'invalid-output', null],
      [3, 'ok', [1, 2]],
    ]);
  });

  it('packs run inputs into one buffer with end offsets', () => {
    const p = packRuns([
      { seq: 5, agentId: 1, input: Uint8Array.of(1, 2) },
      { seq: 6, agentId: 2, input: Uint8Array.of(3) },
    ]);
    expect([...p.seqs]).toEqual([5, 6]);
    expect([...p.ends]).toEqual([2, 3]);
    expect([...p.data]).toEqual([1, 2, 3]);
  });

  it('packs a digest prefix before its input, and carries the input digest of a completion back', () => {
    const p = packRuns([
      { seq: 5, agentId: 1, input: Uint8Array.of(1, 2), digestPrefix: Uint8Array.of(9, 0, 0) },
      { seq: 6, agentId: 2, input: Uint8Array.of(3) },
    ]);
    expect([...p.prefixes]).toEqual([3, 0]);
    expect([...p.discardOutput]).toEqual([0, 0]);
    expect([
      ...packRuns([
        { seq: 1, agentId: 1, input: Uint8Array.of(1) },
        { seq: 2, agentId: 1, input: Uint8Array.of(2), discardOutput: true },
      ]).discardOutput,
    ]).toEqual([0, 1]);
    expect([...p.ends]).toEqual([5, 6]);
    expect([...p.data]).toEqual([9, 0, 0, 1, 2, 3]);
    const digest = '0123456789abcdef01234567';
    const back = unpackCompletions(
      packCompletions([
        { seq: 1, result: { ...ok(encode('x')), inputDigest: digest } },
        { seq: 2, result: ok(encode('y')) },
      ]),
    );
    expect(back.map((c) => [c.result.output, c.result.inputDigest])).toEqual([
      ['x', digest],
      ['y', undefined],
    ]);
    expect('inputDigest' in back[1]!.result).toBe(false);
  });
});

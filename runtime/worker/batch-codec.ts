// Packing of many runs into one transferable buffer each way: cheaper than cloning hundreds of small objects.
import { hostOutcome, type GuestOutcome } from '../agent/outcome.ts';
import { EmittedEvent, keepEventBytes } from '../agent/event.ts';
import type { AgentEvent, EngineName, RunResult, RunStatus } from '../agent/types.ts';
import { decodeTrusted, encode, valueBoundaries } from '../codec.ts';
import type { Completion, RunRequest } from './protocol.ts';

const STATUSES: readonly RunStatus[] = [
  'ok',
  'error',
  'trap',
  'out-of-fuel',
  'stack-overflow',
  'out-of-memory',
  'timeout',
  'limit-exceeded',
  'abi-violation',
  'invalid-input',
  'invalid-output',
  'invalid-module',
  'crashed',
  'exited',
];
const STATUS_INDEX = new Map(STATUSES.map((s, i) => [s, i]));
const ENGINES: readonly EngineName[] = ['wasm', 'emulator'];

/**
 * A batch of completions is one MessagePack array; each completion is
 *   [seq: f64, engine: fixint, status: fixint, fuelUsed: f64|nil, memoryPeakBytes: f64, durationMs: f64, extra: map|nil, output, inputDigest: str|nil]
 * where `output` is the guest's own MessagePack bytes spliced in unchanged (checked in the worker), so the
 * output is decoded once, on the host thread, with the rest of the batch. `seq` and `engine` sit at fixed
 * offsets so one bad completion can be recovered without decoding it.
 */
class BatchWriter {
  private buf = new Uint8Array(64 * 1024);
  private view = new DataView(this.buf.buffer);
  len = 0;

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  byte(b: number): void {
    this.reserve(1);
    this.buf[this.len++] = b;
  }

  f64(x: number): void {
    this.reserve(9);
    this.buf[this.len] = 0xcb;
    this.view.setFloat64(this.len + 1, x);
    this.len += 9;
  }

  /** A string of ASCII characters, one byte each. */
  ascii(s: string): void {
    this.reserve(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.len++] = s.charCodeAt(i);
  }

  raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** The bytes written so far, in a buffer of their own that can be transferred. */
  take(): Uint8Array {
    const out = this.buf.slice(0, this.len);
    this.len = 0;
    return out;
  }
}

const writer = new BatchWriter();

export function packCompletions(completions: Completion[]): Uint8Array {
  writer.byte(0xdd);
  const n = completions.length;
  writer.byte(n >>> 24);
  writer.byte((n >>> 16) & 0xff);
  writer.byte((n >>> 8) & 0xff);
  writer.byte(n & 0xff);
  for (const { seq, result } of completions) writeCompletion(seq, result);
  return writer.take();
}

function writeCompletion(seq: number, r: GuestOutcome): void {
  writer.byte(0x99);
  writer.f64(seq);
  writer.byte(ENGINES.indexOf(r.engine));
  writer.byte(STATUS_INDEX.get(r.status)!);
  if (r.fuelUsed === null) writer.byte(0xc0);
  else writer.f64(r.fuelUsed);
  writer.f64(r.memoryPeakBytes);
  writer.f64(r.durationMs);
  // Most runs have nothing more to say; the rest carry a small map of only the fields that are set.
  if (
    r.events.length === 0 &&
    r.logs.length === 0 &&
    r.logsDropped === 0 &&
    r.message === undefined &&
    r.errorCode === undefined &&
    r.exitCode === undefined &&
    r.wakeMs === undefined &&
    r.state === undefined
  ) {
    writer.byte(0xc0);
  } else {
    const extra: ExtraFields = {};
    if (r.events.length > 0) extra.events = flatEvents(r.events);
    if (r.logs.length > 0) extra.logs = r.logs;
    if (r.logsDropped > 0) extra.logsDropped = r.logsDropped;
    if (r.message !== undefined) extra.message = r.message;
    if (r.errorCode !== undefined) extra.errorCode = r.errorCode;
    if (r.exitCode !== undefined) extra.exitCode = r.exitCode;
    if (r.stdout !== undefined) extra.stdout = r.stdout;
    if (r.stderr !== undefined) extra.stderr = r.stderr;
    if (r.wakeMs !== undefined) extra.wakeMs = r.wakeMs;
    if (r.state !== undefined) extra.state = r.state;
    writer.raw(encode(extra));
  }
  if (r.rawOutput !== undefined) writer.raw(r.rawOutput);
  else if (r.output instanceof Uint8Array)
    writer.raw(encode(r.output)); // an Extism plugin's bytes, as a bin
  else writer.byte(0xc0);
  // 24 hex digits: a fixstr.
  if (r.inputDigest !== undefined && r.inputDigest.length === 24) {
    writer.byte(0xa0 | 24);
    writer.ascii(r.inputDigest);
  } else writer.byte(0xc0);
}

/** The optional fields of a completion as they cross: events as `[topic, payload bytes, topic, ...]`, the payloads
 *  as MessagePack bins holding the guest's bytes (never decoded and re-encoded on the way). */
type ExtraFields = Omit<Partial<RunResult>, 'events'> & { events?: (string | Uint8Array)[] };

type Item = [number, number, number, number | null, number, number, ExtraFields | null, unknown, string | null];

function flatEvents(events: readonly AgentEvent[]): (string | Uint8Array)[] {
  const flat: (string | Uint8Array)[] = [];
  for (const e of events) flat.push(e.topic, e.bytes);
  return flat;
}

function eventsOf(flat: (string | Uint8Array)[]): EmittedEvent[] {
  const events: EmittedEvent[] = [];
  // The decoder's bins are views into the batch; a copy lets the batch (outputs and all) go while an event waits
  // in a queue.
  for (let i = 0; i + 1 < flat.length; i += 2)
    events.push(new EmittedEvent(flat[i] as string, keepEventBytes(flat[i + 1] as Uint8Array)));
  return events;
}

export function unpackCompletions(bytes: Uint8Array): Completion[] {
  let items: Item[];
  try {
    items = decodeTrusted(bytes) as Item[];
  } catch {
    return unpackOneByOne(bytes);
  }
  return items.map(toCompletion);
}

function toCompletion(item: Item): Completion {
  const [seq, engine, status, fuelUsed, memoryPeakBytes, durationMs, extra, output, inputDigest] = item;
  const result: RunResult = {
    status: STATUSES[status]!,
    output: output ?? null,
    events: [],
    logs: [],
    logsDropped: 0,
    fuelUsed,
    memoryPeakBytes,
    durationMs,
    engine: ENGINES[engine]!,
  };
  if (extra !== null) {
    const { events, ...rest } = extra;
    Object.assign(result, rest);
    if (events !== undefined) result.events = eventsOf(events);
  }
  if (typeof inputDigest === 'string') result.inputDigest = inputDigest;
  return { seq, result };
}

/**
 * The batch did not decode: some output is structurally MessagePack but not something the decoder accepts (an
 * unknown extension type, say). Decode completion by completion; the ones that fail become 'invalid-output'.
 */
function unpackOneByOne(bytes: Uint8Array): Completion[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(1);
  const bounds = valueBoundaries(bytes, 5, count);
  const completions: Completion[] = [];
  for (let i = 0; i < count; i++) {
    const start = bounds[i]!;
    const item = bytes.subarray(start, bounds[i + 1]);
    try {
      completions.push(toCompletion(decodeTrusted(item) as Item));
    } catch (error) {
      const seq = view.getFloat64(start + 2);
      const engine = ENGINES[bytes[start + 10]!]!;
      completions.push({
        seq,
        result: hostOutcome(
          'invalid-output',
          engine,
          `the agent's output cannot be decoded: ${(error as Error).message}`,
        ),
      });
    }
  }
  return completions;
}

/**
 * Inputs of a batch: one byte buffer plus the end offset of each input. A run with a digest prefix has it just
 * before its input (`prefixes[i]` bytes, 0 without one), so the worker hashes prefix and input as one range.
 */
export interface PackedRuns {
  seqs: Float64Array;
  agentIds: Int32Array;
  ends: Uint32Array;
  prefixes: Uint16Array;
  /** 1 where the output is not to be sent back. */
  discardOutput: Uint8Array;
  data: Uint8Array;
}

/** A longer prefix (a very long key) is not sent: the host hashes that message itself. */
const MAX_PREFIX = 0xffff;

export function packRuns(runs: RunRequest[]): PackedRuns {
  let total = 0;
  for (const r of runs) {
    total += r.input.length;
    if (r.digestPrefix !== undefined && r.digestPrefix.length <= MAX_PREFIX) total += r.digestPrefix.length;
  }
  const packed: PackedRuns = {
    seqs: new Float64Array(runs.length),
    agentIds: new Int32Array(runs.length),
    ends: new Uint32Array(runs.length),
    prefixes: new Uint16Array(runs.length),
    discardOutput: new Uint8Array(runs.length),
    data: new Uint8Array(total),
  };
  let at = 0;
  runs.forEach((r, i) => {
    packed.seqs[i] = r.seq;
    packed.agentIds[i] = r.agentId;
    if (r.discardOutput === true) packed.discardOutput[i] = 1;
    const prefix = r.digestPrefix;
    if (prefix !== undefined && prefix.length <= MAX_PREFIX) {
      packed.data.set(prefix, at);
      at += prefix.length;
      packed.prefixes[i] = prefix.length;
    }
    packed.data.set(r.input, at);
    at += r.input.length;
    packed.ends[i] = at;
  });
  return packed;
}

export function transferList(p: PackedRuns): ArrayBuffer[] {
  return [
    p.seqs.buffer,
    p.agentIds.buffer,
    p.ends.buffer,
    p.prefixes.buffer,
    p.discardOutput.buffer,
    p.data.buffer,
  ] as ArrayBuffer[];
}

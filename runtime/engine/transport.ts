// Packing of many runs into one transferable buffer each way: cheaper than cloning hundreds of small objects.
import { Packr, Unpackr } from 'msgpackr';
import type { Completion, RunRequest } from './protocol.ts';

// Records mode: msgpackr writes each object shape once per message and reads the rest with a compiled reader.
const packr = new Packr({ useRecords: true, encodeUndefinedAsNil: false });
const unpackr = new Unpackr({ useRecords: true, int64AsType: 'auto' as 'bigint' });

/** Results of a batch, as a buffer the worker can transfer (never a slice of msgpackr's shared pool). */
export function packCompletions(completions: Completion[]): Uint8Array {
  return new Uint8Array(packr.pack(completions));
}

export function unpackCompletions(bytes: Uint8Array): Completion[] {
  return unpackr.unpack(bytes) as Completion[];
}

/** Inputs of a batch: one byte buffer plus the end offset of each input. */
export interface PackedRuns {
  seqs: Int32Array;
  agentIds: Int32Array;
  ends: Uint32Array;
  data: Uint8Array;
}

export function packRuns(runs: RunRequest[]): PackedRuns {
  let total = 0;
  for (const r of runs) total += r.input.length;
  const packed: PackedRuns = {
    seqs: new Int32Array(runs.length),
    agentIds: new Int32Array(runs.length),
    ends: new Uint32Array(runs.length),
    data: new Uint8Array(total),
  };
  let at = 0;
  runs.forEach((r, i) => {
    packed.seqs[i] = r.seq;
    packed.agentIds[i] = r.agentId;
    packed.data.set(r.input, at);
    at += r.input.length;
    packed.ends[i] = at;
  });
  return packed;
}

export function transferList(p: PackedRuns): ArrayBuffer[] {
  return [p.seqs.buffer, p.agentIds.buffer, p.ends.buffer, p.data.buffer] as ArrayBuffer[];
}

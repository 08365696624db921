// Wire format of the graph service: frames of a 4-byte big-endian length and a plain MessagePack body.
import { Packr } from 'msgpackr';
import { SandboxError } from '../errors.ts';
import { GraphError } from './errors.ts';

/** Default largest frame body either side accepts: 16 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

export type RequestId = number | string;

export interface RequestMessage {
  id: RequestId;
  method: string;
  params?: unknown;
  /** The namespace the request acts on (a store of its own); absent means 'default'. */
  ns?: string;
  /** Asks for a shorter deadline than the service's per-request limit (never a longer one). */
  timeoutMs?: number;
}
export interface WireError {
  code: string;
  message: string;
  data?: Record<string, unknown>;
}
export type ResponseMessage = { id: RequestId | null; result: unknown } | { id: RequestId | null; error: WireError };
export interface EventMessage {
  event: string;
  data: unknown;
}

// Plain MessagePack: msgpackr's record extension is off so any MessagePack library can talk to the service.
const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, mapsAsObjects: true });

export function encode(value: unknown): Buffer {
  return packr.pack(value);
}

export function decode(body: Uint8Array): unknown {
  return packr.unpack(body);
}

/** One frame: length prefix + body. */
export function encodeFrame(message: unknown): Buffer {
  const body = packr.pack(message);
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}

export type DecodedFrame = { kind: 'frame'; body: Buffer } | { kind: 'too-large'; length: number };

/**
 * Splits a byte stream into frame bodies. After a too-large frame it stops: the stream cannot be resynchronised
 * without reading the oversized body, so the owner closes the connection.
 */
export class FrameDecoder {
  /** Bytes of an incomplete frame, kept as a list so a large frame arriving in pieces is copied once. */
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  /** Total bytes (header + body) the incomplete frame needs, once its header is known. */
  private needed = 0;
  private failed = false;

  constructor(private maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {}

  /** Changes the largest frame accepted from now on (the service raises it once a connection has authenticated). */
  setLimit(maxFrameBytes: number): void {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes waiting for the rest of their frame. */
  get buffered(): number {
    return this.chunkBytes;
  }

  push(chunk: Buffer): DecodedFrame[] {
    if (this.failed) return [];
    let buf = chunk;
    if (this.chunkBytes > 0) {
      this.chunks.push(chunk);
      this.chunkBytes += chunk.length;
      if (this.needed > 0 && this.chunkBytes < this.needed) return [];
      buf = Buffer.concat(this.chunks, this.chunkBytes);
      this.chunks = [];
      this.chunkBytes = 0;
    }
    this.needed = 0;
    const out: DecodedFrame[] = [];
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readUInt32BE(off);
      if (len > this.maxFrameBytes) {
        this.failed = true;
        out.push({ kind: 'too-large', length: len });
        return out;
      }
      if (buf.length - off - 4 < len) {
        this.needed = 4 + len;
        break;
      }
      out.push({ kind: 'frame', body: buf.subarray(off + 4, off + 4 + len) });
      off += 4 + len;
    }
    if (off < buf.length) {
      // Copy the tail so the (possibly large) chunk it came from can be collected.
      const tail = Buffer.from(buf.subarray(off));
      this.chunks = [tail];
      this.chunkBytes = tail.length;
    }
    return out;
  }
}

/** The error object sent for a failure. */
export function toWireError(err: unknown): WireError {
  if (err instanceof GraphError) {
    const e: WireError = { code: err.code, message: err.message };
    if (err.data !== undefined) e.data = err.data;
    return e;
  }
  if (err instanceof SandboxError) return { code: err.code, message: err.message };
  return { code: 'GRAPH_INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

/** The error a client raises for a wire error: GraphError for GRAPH_* codes, SandboxError for SANDBOX_* ones. */
export function fromWireError(e: unknown): Error {
  if (e === null || typeof e !== 'object')
    return new SandboxError('SANDBOX_PROTOCOL', `malformed error from graph service: ${String(e)}`);
  const { code, message, data } = e as WireError;
  const msg = typeof message === 'string' ? message : String(code);
  if (typeof code === 'string' && code.startsWith('SANDBOX_')) {
    return new SandboxError(code as ConstructorParameters<typeof SandboxError>[0], msg);
  }
  return new GraphError((typeof code === 'string' ? code : 'GRAPH_INTERNAL') as GraphError['code'], msg, data);
}

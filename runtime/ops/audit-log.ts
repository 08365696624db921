// The audit trail: one NDJSON line per agent run (and per parked message), appended before the message's ack, with size-based rotation.
import { closeSync, fstatSync, ftruncateSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import type { RunResult, RunStatus } from '../agent/types.ts';
import { SandboxError } from '../errors.ts';
import type { QueueMessage } from '../queue/types.ts';
import { durationJson, LineBuffer } from './audit-line.ts';
import { contentDigest, MESSAGE_ID_HEADER } from './message-digest.ts';

export { MESSAGE_ID_HEADER };

export { durationJson };

export interface AuditLogOptions {
  /** The live file; rotated files are `<file>.1` (newest) … `<file>.<keep>`. */
  file: string;
  /** Rotate once the live file reaches this many bytes (default 64 MiB; 0 never rotates). */
  maxBytes?: number;
  /** Rotated files kept (default 5). */
  keep?: number;
  /**
   * Group commit: lines are collected and written with one write(2) per batch, once the microtasks queued when
   * the first line came have run (the results of one worker answer resolve together) or once `batchBytes` have
   * gathered; `record` resolves after its batch is written (await it before the ack). Default false: each line
   * is written before `record` returns.
   */
  batch?: boolean;
  /** With `batch`: write as soon as this many bytes are waiting (default 64 KiB). */
  batchBytes?: number;
}

/** What a line says happened: a run's status, or `quarantined` for a message parked without a run. */
export type AuditStatus = RunStatus | 'quarantined';

/** One line of the trail, as it is written (plus `level` 30 first and `msg` last, pino's layout). */
export interface AuditRecord {
  ts: string;
  agent: string;
  messageId: string;
  topic: string;
  deliveryCount: number;
  status: AuditStatus;
  /** Run lines only. */
  fuelUsed?: number | null;
  memoryPeakBytes?: number;
  durationMs?: number;
  error?: string;
  /** Parked lines only: where the message went. */
  deadLetterTopic?: string;
}

let hashScratch = Buffer.allocUnsafe(64 * 1024);
/** The topic and key whose bytes (each followed by a NUL) start the scratch, and where they end. */
let scratchTopic: string | undefined;
let scratchKey = '';
let scratchPrefix = 0;

/**
 * The message's id: the producer's `x-message-id` header, or else a digest of topic, key and payload. The
 * queue contract gives deliveries no id of their own; a content digest stays the same across redeliveries, so
 * the trail's lines for one message share it and `deliveryCount` tells them apart. A run's worker may have
 * computed the digest already (`RunResult.inputDigest`): give the result, and it is used.
 */
export function messageId(message: QueueMessage, result?: Pick<RunResult, 'inputDigest'>): string {
  const given = message.headers[MESSAGE_ID_HEADER];
  if (given !== undefined && given.length > 0) return given;
  if (result?.inputDigest !== undefined) return result.inputDigest;
  const key = message.key ?? '';
  // The bytes the digest covers: topic, NUL, key, NUL, payload. The scratch keeps the last topic-and-key
  // prefix, so a run of messages on one topic without keys encodes it once.
  const topic = message.topic;
  const need = (topic.length + key.length) * 3 + 2 + message.payload.length;
  if (need > hashScratch.length) {
    hashScratch = Buffer.allocUnsafe(Math.max(need, hashScratch.length * 2));
    scratchTopic = undefined;
  }
  const b = hashScratch;
  if (topic !== scratchTopic || key !== scratchKey) {
    let at = b.write(topic, 0);
    b[at++] = 0;
    at += b.write(key, at);
    b[at++] = 0;
    scratchTopic = topic;
    scratchKey = key;
    scratchPrefix = at;
  }
  b.set(message.payload, scratchPrefix);
  // A plain Uint8Array view: Buffer#subarray costs more than the hash's own setup on small payloads.
  return contentDigest(new Uint8Array(b.buffer, b.byteOffset, scratchPrefix + message.payload.length));
}

/**
 * Appends whole lines to a file with write(2) on an O_APPEND descriptor, before returning. Why not pino's
 * SonicBoom or pino-roll's worker-thread transport: both buffer in the process, so a line could still be in
 * memory when its message is acked and the process is killed. Rotation is by size, checked before each write,
 * by rename (atomic), and a chunk is split at the line where the size would be passed, so a line never
 * straddles two files.
 *
 * SIGKILL: Linux checks for a fatal signal between the pages of a write, so a kill can cut a write short;
 * a line of one write can be cut only if it crosses a page boundary, a batch of many lines anywhere. Only
 * the last write can be cut, and its lines were not acked yet (acks follow the write), so on opening the
 * file a partial last line is cut off (`repairedBytes`): the trail is whole lines, every acked one there.
 */
export class RotatingFileDestination {
  private fd: number;
  private size: number;
  private readonly maxBytes: number;
  private readonly keep: number;
  rotations = 0;
  /** Bytes of a partial last line removed when the file was opened (a write cut short by a kill). */
  readonly repairedBytes: number;

  constructor(private readonly options: AuditLogOptions) {
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.keep = options.keep ?? 5;
    if (!Number.isInteger(this.maxBytes) || this.maxBytes < 0)
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `audit maxBytes must be a non-negative integer, got ${String(options.maxBytes)}`,
      );
    if (!Number.isInteger(this.keep) || this.keep < 1)
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `audit keep must be a positive integer, got ${String(options.keep)}`,
      );
    this.fd = this.open();
    this.size = fstatSync(this.fd).size;
    this.repairedBytes = this.cutPartialLine();
  }

  private open(): number {
    try {
      return openSync(this.options.file, 'a', 0o640);
    } catch (error) {
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `cannot open the audit log ${this.options.file}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  /** Truncates the file after its last newline (O_APPEND writes still go to the new end). */
  private cutPartialLine(): number {
    if (this.size === 0) return 0;
    const readFd = openSync(this.options.file, 'r');
    try {
      const chunk = Buffer.allocUnsafe(64 * 1024);
      let end = this.size;
      while (end > 0) {
        const start = Math.max(0, end - chunk.length);
        const n = readSync(readFd, chunk, 0, end - start, start);
        const nl = chunk.subarray(0, n).lastIndexOf(0x0a);
        if (nl >= 0) {
          end = start + nl + 1;
          break;
        }
        end = start;
      }
      const cut = this.size - end;
      if (cut > 0) {
        ftruncateSync(this.fd, end);
        this.size = end;
      }
      return cut;
    } finally {
      closeSync(readFd);
    }
  }

  /** Appends one line (it must end with a newline). */
  write(line: string): boolean {
    const bytes = Buffer.from(line);
    this.writeLines(bytes, bytes.length, null);
    return true;
  }

  /**
   * Appends `bytes[0, length)`, whole lines; `lineEnds` (the offset after each line's newline) lets a chunk be
   * split where rotation falls. Without them the chunk goes to one file.
   */
  writeLines(bytes: Uint8Array, length: number, lineEnds: readonly number[] | null): void {
    let from = 0;
    if (this.maxBytes > 0 && this.size + length > this.maxBytes) {
      if (lineEnds === null) {
        if (this.size > 0) this.rotate();
      } else {
        // The most whole lines that still fit, then rotate; a single line larger than maxBytes gets a file.
        let i = 0;
        while (from < length) {
          const room = this.maxBytes - this.size;
          let to = from;
          while (i < lineEnds.length && lineEnds[i]! - from <= room) to = lineEnds[i++]!;
          if (to === from) {
            if (this.size > 0) {
              this.rotate();
              continue;
            }
            to = lineEnds[i++]!;
          }
          this.append(bytes, from, to);
          from = to;
          if (from < length) this.rotate();
        }
        return;
      }
    }
    this.append(bytes, from, length);
  }

  private append(bytes: Uint8Array, from: number, to: number): void {
    // A short write to a regular file happens when the disk is full or a kill is pending; the rest is retried.
    let off = from;
    while (off < to) off += writeSync(this.fd, bytes, off, to - off);
    this.size += to - from;
  }

  private rotate(): void {
    const file = this.options.file;
    rmSync(`${file}.${this.keep}`, { force: true });
    for (let i = this.keep - 1; i >= 1; i--) {
      try {
        renameSync(`${file}.${i}`, `${file}.${i + 1}`);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    renameSync(file, `${file}.1`);
    closeSync(this.fd);
    this.fd = this.open();
    this.size = 0;
    this.rotations++;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/** Lines waiting for one write, and the callers waiting for it. */
interface Batch {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

const RESOLVED = Promise.resolve();

/** Bytes of the line's fixed parts that repeat (agent names, topics, statuses), remembered. */
class PartCache {
  private readonly parts = new Map<string, Buffer>();
  private lastKey: string | undefined;
  private last: Buffer = Buffer.alloc(0);

  constructor(private readonly make: (key: string) => string) {}

  get(key: string): Buffer {
    // The last one first: a batch is mostly one agent and one topic.
    if (key === this.lastKey) return this.last;
    let part = this.parts.get(key);
    if (part === undefined) {
      part = Buffer.from(this.make(key));
      if (this.parts.size >= 10_000) this.parts.clear();
      this.parts.set(key, part);
    }
    this.lastKey = key;
    this.last = part;
    return part;
  }
}

const MEMORY_KEY = Buffer.from(',"memoryPeakBytes":');
const DURATION_KEY = Buffer.from(',"durationMs":');
const ERROR_KEY = Buffer.from(',"error":');
const NULL = Buffer.from('null');
const RUN_END = Buffer.from(',"msg":"run"}\n');
const PARKED_STATUS = Buffer.from(',"status":"quarantined","deadLetterTopic":');
const PARKED_END = Buffer.from(',"msg":"parked"}\n');

/**
 * The trail. Lines have pino's layout (`{"level":30, <record>, "msg":...}`, the same bytes pino writes for
 * the record; test/unit/ops-audit-log.test.ts checks it) but are built by hand: a fixed shape costs a
 * fraction of pino's generic serializer, and the trail is on every run's path.
 */
export class AuditLog {
  private readonly destination: RotatingFileDestination;
  private readonly batched: boolean;
  private readonly batchBytes: number;
  /** Lines not written yet (batched), or the line being written (unbatched). */
  private readonly out = new LineBuffer();
  private lineEnds: number[] = [];
  private batch: Batch | undefined;
  private scheduled = false;
  private isoMs = -1;
  private iso: Buffer = Buffer.alloc(0);
  private readonly agentParts = new PartCache((agent) => `${JSON.stringify(agent)},"messageId":`);
  private readonly topicParts = new PartCache((topic) => `,"topic":${JSON.stringify(topic)},"deliveryCount":`);
  private readonly statusParts = new PartCache((status) => `,"status":${JSON.stringify(status)},"fuelUsed":`);
  private readonly deadLetterParts = new PartCache((topic) => JSON.stringify(topic));
  private closed = false;
  lines = 0;
  /** Writes made (one per line unbatched, one per batch batched). */
  writes = 0;

  constructor(options: AuditLogOptions) {
    this.destination = new RotatingFileDestination(options);
    this.batched = options.batch === true;
    this.batchBytes = options.batchBytes ?? 64 * 1024;
    if (!Number.isInteger(this.batchBytes) || this.batchBytes < 1)
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `audit batchBytes must be a positive integer, got ${String(options.batchBytes)}`,
      );
  }

  /** Bytes of a partial last line the file had when opened (cut off; see RotatingFileDestination). */
  get repairedBytes(): number {
    return this.destination.repairedBytes;
  }

  /** `{"level":30,"ts":"<now>","agent":`, rebuilt once per millisecond. */
  private start(): Buffer {
    const ms = Date.now();
    if (ms !== this.isoMs) {
      this.isoMs = ms;
      this.iso = Buffer.from(`{"level":30,"ts":"${new Date(ms).toISOString()}","agent":`, 'latin1');
    }
    return this.iso;
  }

  /** The line up to the status, into `out`. */
  private head(agent: string, message: QueueMessage, result?: RunResult): void {
    const out = this.out;
    out.bytes(this.start());
    out.bytes(this.agentParts.get(agent));
    // The message id: a digest needs no escaping, a producer's header may.
    const given = message.headers[MESSAGE_ID_HEADER];
    if (given !== undefined && given.length > 0) out.text(JSON.stringify(given));
    else out.quotedAscii(result?.inputDigest ?? messageId(message));
    out.bytes(this.topicParts.get(message.topic));
    out.number(message.deliveryCount);
  }

  /**
   * The run's line. Resolves once it is in the file: at once (before returning) unbatched, after its batch's
   * write batched. Await it before acking the message; a failed write (disk full) rejects it.
   */
  record(agent: string, message: QueueMessage, result: RunResult): Promise<void> {
    this.open();
    const out = this.out;
    this.head(agent, message, result);
    out.bytes(this.statusParts.get(result.status));
    if (result.fuelUsed === null) out.bytes(NULL);
    else out.number(result.fuelUsed);
    out.bytes(MEMORY_KEY);
    out.number(result.memoryPeakBytes);
    out.bytes(DURATION_KEY);
    out.ascii(durationJson(result.durationMs));
    if (result.status !== 'ok') {
      const error =
        result.message ?? (result.errorCode !== undefined ? `error code ${result.errorCode}` : result.status);
      out.bytes(ERROR_KEY);
      out.text(JSON.stringify(error));
    }
    out.bytes(RUN_END);
    return this.added();
  }

  /** A line for a message parked on `deadLetterTopic` without a run (its agent is quarantined); as `record`. */
  recordParked(agent: string, message: QueueMessage, deadLetterTopic: string): Promise<void> {
    this.open();
    this.head(agent, message);
    this.out.bytes(PARKED_STATUS);
    this.out.bytes(this.deadLetterParts.get(deadLetterTopic));
    this.out.bytes(PARKED_END);
    return this.added();
  }

  private open(): void {
    if (this.closed) throw new SandboxError('SANDBOX_CLOSED', 'the audit log is closed');
  }

  /** A line was appended to `out`: written now (unbatched) or with its batch. */
  private added(): Promise<void> {
    const out = this.out;
    if (!this.batched) {
      try {
        this.destination.writeLines(out.buffer, out.used, null);
      } finally {
        out.reset();
      }
      this.lines++;
      this.writes++;
      return RESOLVED;
    }
    this.lines++;
    this.lineEnds.push(out.used);
    let batch = this.batch;
    if (batch === undefined) {
      let resolve!: () => void;
      let reject!: (error: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      batch = this.batch = { promise, resolve, reject };
    }
    if (out.used >= this.batchBytes) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      // After the microtasks already queued: the runs of one worker answer are resolved together, so their lines
      // share the write, and their acks follow in the same turn. (A flush at the end of the turn held every ack
      // for a turn, the worker ran dry meanwhile and got its next runs in smaller batches: 1.5× the messages.)
      queueMicrotask(this.flushScheduled);
    }
    return batch.promise;
  }

  private readonly flushScheduled = (): void => {
    this.scheduled = false;
    this.flush();
  };

  /** Writes the lines waiting (batched mode), then resolves their callers. */
  flush(): void {
    const batch = this.batch;
    if (batch === undefined) return;
    this.batch = undefined;
    const out = this.out;
    const used = out.used;
    const lineEnds = this.lineEnds;
    out.reset();
    this.lineEnds = [];
    try {
      this.destination.writeLines(out.buffer, used, lineEnds);
      this.writes++;
    } catch (error) {
      batch.reject(error);
      return;
    }
    batch.resolve();
  }

  get rotations(): number {
    return this.destination.rotations;
  }

  /** Writes what is waiting and closes the file. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.destination.close();
  }
}

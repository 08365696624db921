// The audit trail: one NDJSON line per agent run, written through pino synchronously with size-based rotation.
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import type { RunResult, RunStatus } from '../agent/types.ts';
import { SandboxError } from '../errors.ts';
import type { QueueMessage } from '../queue/types.ts';

export interface AuditLogOptions {
  /** The live file; rotated files are `<file>.1` (newest) … `<file>.<keep>`. */
  file: string;
  /** Rotate once the live file reaches this many bytes (default 64 MiB; 0 never rotates). */
  maxBytes?: number;
  /** Rotated files kept (default 5). */
  keep?: number;
}

/** One line of the trail, as it is written (plus pino's `level`, `time` and `msg`). */
export interface AuditRecord {
  ts: string;
  agent: string;
  messageId: string;
  topic: string;
  deliveryCount: number;
  status: RunStatus;
  fuelUsed: number | null;
  memoryPeakBytes: number;
  durationMs: number;
  error?: string;
}

/** Header a producer may set to give a message a stable id in the trail. */
export const MESSAGE_ID_HEADER = 'x-message-id';

/**
 * The message's id: the producer's `x-message-id` header, or else a digest of topic, key and payload. The
 * queue contract gives deliveries no id of their own; a content digest stays the same across redeliveries, so
 * the trail's lines for one message share it and `deliveryCount` tells them apart.
 */
export function messageId(message: QueueMessage): string {
  const given = message.headers[MESSAGE_ID_HEADER];
  if (given !== undefined && given.length > 0) return given;
  const h = createHash('sha256');
  h.update(message.topic).update('\0').update(message.key ?? '').update('\0').update(message.payload);
  return h.digest('hex').slice(0, 24);
}

/**
 * A pino destination that appends each line with one write(2) on an O_APPEND descriptor, before returning.
 * Why not pino's async SonicBoom or pino-roll's worker-thread transport: both buffer, so a line could still be
 * in memory when the run's message is acked and the process is killed, and "every acked message has its line"
 * would not hold. One write(2) per line also means SIGKILL leaves whole lines only: the kernel applies a write
 * to a regular file before the signal is delivered. Rotation is by size, checked before each write, by rename
 * (atomic), so a line never straddles two files.
 */
export class RotatingFileDestination {
  private fd: number;
  private size: number;
  private readonly maxBytes: number;
  private readonly keep: number;
  rotations = 0;

  constructor(private readonly options: AuditLogOptions) {
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.keep = options.keep ?? 5;
    if (!Number.isInteger(this.maxBytes) || this.maxBytes < 0) throw new SandboxError('SANDBOX_INVALID_OPTIONS', `audit maxBytes must be a non-negative integer, got ${String(options.maxBytes)}`);
    if (!Number.isInteger(this.keep) || this.keep < 1) throw new SandboxError('SANDBOX_INVALID_OPTIONS', `audit keep must be a positive integer, got ${String(options.keep)}`);
    this.fd = this.open();
    this.size = fstatSync(this.fd).size;
  }

  private open(): number {
    try {
      return openSync(this.options.file, 'a', 0o640);
    } catch (error) {
      throw new SandboxError('SANDBOX_INVALID_OPTIONS', `cannot open the audit log ${this.options.file}: ${(error as Error).message}`, { cause: error });
    }
  }

  write(line: string): boolean {
    const bytes = Buffer.from(line);
    if (this.maxBytes > 0 && this.size > 0 && this.size + bytes.length > this.maxBytes) this.rotate();
    // A short write to a regular file happens only when the disk is full; the rest is retried, never dropped.
    let off = 0;
    while (off < bytes.length) off += writeSync(this.fd, bytes, off, bytes.length - off);
    this.size += bytes.length;
    return true;
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

export class AuditLog {
  private readonly destination: RotatingFileDestination;
  private readonly logger: Logger;
  lines = 0;

  constructor(options: AuditLogOptions) {
    this.destination = new RotatingFileDestination(options);
    // base: null drops pid/hostname; the timestamp is the record's own `ts`.
    this.logger = pino({ base: null, timestamp: false, messageKey: 'msg' }, this.destination);
  }

  /** Writes the run's line; returns once it is in the file (call it before the message is acked). */
  record(agent: string, message: QueueMessage, result: RunResult): void {
    const record: AuditRecord = {
      ts: new Date().toISOString(),
      agent,
      messageId: messageId(message),
      topic: message.topic,
      deliveryCount: message.deliveryCount,
      status: result.status,
      fuelUsed: result.fuelUsed,
      memoryPeakBytes: result.memoryPeakBytes,
      durationMs: result.durationMs,
    };
    if (result.status !== 'ok') record.error = result.message ?? (result.errorCode !== undefined ? `error code ${result.errorCode}` : result.status);
    this.logger.info(record, 'run');
    this.lines++;
  }

  get rotations(): number {
    return this.destination.rotations;
  }

  close(): void {
    this.destination.close();
  }
}

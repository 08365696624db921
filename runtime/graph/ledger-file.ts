// The ledger's append-only file: CRC-checked MessagePack records, a torn last record dropped on recovery.
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  ftruncateSync,
  writeSync,
  existsSync,
} from 'node:fs';
import { crc32 } from 'node:zlib';
import { Packr } from 'msgpackr';
import { GraphError } from './errors.ts';
import type { GraphJSON } from './graph.ts';
import type { GraphOp } from './ops.ts';

export type LedgerRecord =
  { t: 'snapshot'; seq: number; graph: GraphJSON } | { t: 'tx'; seq: number; time: number; ops: GraphOp[] };

// Plain MessagePack (no msgpackr records), so the file can be read by any MessagePack library.
const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, mapsAsObjects: true });
const HEADER = 8; // u32 BE body length, u32 BE CRC-32 of the body

/**
 * One ledger file. Records are `length | crc32 | msgpack body`. A crash can leave only the last record torn
 * (writes are appends), so a short or failing last record is cut off; a bad record before the end is corruption.
 */
export class LedgerFile {
  private fd: number;

  private constructor(
    readonly path: string,
    fd: number,
    private readonly fsync: boolean,
  ) {
    this.fd = fd;
  }

  /** Opens (creating if needed) the file and returns it with the records it already holds. */
  static open(
    path: string,
    options: { fsync?: boolean } = {},
  ): { file: LedgerFile; records: LedgerRecord[]; droppedBytes: number } {
    const records: LedgerRecord[] = [];
    let good = 0;
    let size = 0;
    if (existsSync(path)) {
      const buf = readFileSync(path);
      size = buf.length;
      while (good + HEADER <= buf.length) {
        const len = buf.readUInt32BE(good);
        const sum = buf.readUInt32BE(good + 4);
        const end = good + HEADER + len;
        if (end > buf.length) break; // torn tail
        const body = buf.subarray(good + HEADER, end);
        if (crc32(body) !== sum) {
          if (end === buf.length) break; // the last record was half-written
          throw new GraphError('GRAPH_LEDGER_CORRUPT', `ledger ${path}: record at byte ${good} fails its checksum`, {
            offset: good,
          });
        }
        let rec: LedgerRecord;
        try {
          rec = packr.unpack(body) as LedgerRecord;
        } catch (cause) {
          throw new GraphError(
            'GRAPH_LEDGER_CORRUPT',
            `ledger ${path}: record at byte ${good} is not MessagePack`,
            { offset: good },
            { cause },
          );
        }
        records.push(rec);
        good = end;
      }
    }
    const fd = openSync(path, 'a+', 0o600);
    if (good < size) ftruncateSync(fd, good);
    return { file: new LedgerFile(path, fd, options.fsync === true), records, droppedBytes: size - good };
  }

  static encode(rec: LedgerRecord): Buffer {
    const body = packr.pack(rec);
    const out = Buffer.allocUnsafe(HEADER + body.length);
    out.writeUInt32BE(body.length, 0);
    out.writeUInt32BE(crc32(body), 4);
    body.copy(out, HEADER);
    return out;
  }

  /** Appends synchronously: once this returns the record is in the kernel and survives the process being killed. */
  append(rec: LedgerRecord): void {
    const bytes = LedgerFile.encode(rec);
    let off = 0;
    while (off < bytes.length) off += writeSync(this.fd, bytes, off, bytes.length - off);
    if (this.fsync) fsyncSync(this.fd);
  }

  /** Replaces the whole file by one snapshot record, atomically (write aside, fsync, rename). */
  compact(snapshot: LedgerRecord): void {
    const tmp = `${this.path}.compact`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      const bytes = LedgerFile.encode(snapshot);
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    closeSync(this.fd);
    this.fd = openSync(this.path, 'a', 0o600);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

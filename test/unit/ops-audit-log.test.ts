// The audit trail's lines (fields, ids, errors) and its size-based rotation.
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { RunResult } from '../../runtime/agent/types.ts';
import { AuditLog, durationJson, messageId } from '../../runtime/ops/audit-log.ts';
import type { QueueMessage } from '../../runtime/queue/types.ts';

function message(i: number, headers: Record<string, string> = {}, deliveryCount = 1): QueueMessage {
  return {
    topic: 'logs.app',
    payload: new Uint8Array([0x81, i & 0x7f]),
    key: undefined,
    headers,
    deliveryCount,
    ack() {},
    nak: () => 'retry',
    term: () => 'dead-letter',
  };
}

const ok: RunResult = {
  status: 'ok',
  output: null,
  events: [],
  logs: [],
  logsDropped: 0,
  fuelUsed: 1234,
  memoryPeakBytes: 65536,
  durationMs: 0.25,
  engine: 'wasm',
};

describe('AuditLog', () => {
  it('writes one parseable line per run with the run and message fields', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'audit-')), 'audit.ndjson');
    const log = new AuditLog({ file });
    void log.record('triage', message(1, { 'x-message-id': 'm-1' }), ok);
    void log.record('triage', message(2, {}, 3), {
      ...ok,
      status: 'out-of-fuel',
      fuelUsed: 5000,
      message: 'fuel limit 5000 reached',
    });
    void log.record('triage', message(3), { ...ok, status: 'error', errorCode: 7 });
    // Synchronous: the lines are in the file before close.
    const lines = readFileSync(file, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    log.close();
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({
      agent: 'triage',
      messageId: 'm-1',
      topic: 'logs.app',
      deliveryCount: 1,
      status: 'ok',
      fuelUsed: 1234,
      memoryPeakBytes: 65536,
      durationMs: 0.25,
      msg: 'run',
    });
    expect(lines[0]!.error).toBeUndefined();
    expect(Date.parse(lines[0]!.ts as string)).not.toBeNaN();
    expect(lines[1]).toMatchObject({
      deliveryCount: 3,
      status: 'out-of-fuel',
      error: 'fuel limit 5000 reached',
      messageId: messageId(message(2)),
    });
    expect(lines[2]).toMatchObject({ status: 'error', error: 'error code 7' });
    expect(log.lines).toBe(3);
  });

  it('writes durationMs rounded to the microsecond, as JSON.stringify writes the rounded number', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'audit-')), 'audit.ndjson');
    const log = new AuditLog({ file });
    void log.record('a', message(1), { ...ok, durationMs: 0.004291534423828125 });
    void log.record('a', message(2), { ...ok, durationMs: 12.0004999 });
    log.close();
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toContain('"durationMs":0.004,');
    expect(lines[1]).toContain('"durationMs":12,');
    const samples = [
      0,
      0.0004,
      0.0005,
      0.001,
      0.0101,
      0.05,
      0.1,
      0.25,
      1,
      1.5,
      999.9995,
      86_400_000.123,
      2 ** 40 + 0.5,
    ];
    for (let i = 0; i < 2000; i++) samples.push(Math.random() * 10 ** ((i % 7) - 3));
    for (const ms of samples) expect(durationJson(ms), String(ms)).toBe(JSON.stringify(Math.round(ms * 1000) / 1000));
    for (const ms of [NaN, Infinity]) expect(durationJson(ms)).toBe('null');
  });

  it("uses the digest a run's worker computed as the message id, and a producer's id before either", () => {
    const file = join(mkdtempSync(join(tmpdir(), 'audit-')), 'audit.ndjson');
    const log = new AuditLog({ file });
    const digest = 'abcdefabcdefabcdefabcdef';
    log.record('a', message(1), { ...ok, inputDigest: digest });
    log.record('a', message(2, { 'x-message-id': 'given' }), { ...ok, inputDigest: digest });
    log.record('a', message(3), ok);
    log.close();
    const ids = readFileSync(file, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => (JSON.parse(l) as { messageId: string }).messageId);
    expect(ids).toEqual([digest, 'given', messageId(message(3))]);
    expect(messageId(message(1), { inputDigest: digest })).toBe(digest);
  });

  it('gives a message the same id on every delivery and different messages different ids', () => {
    expect(messageId(message(5, {}, 1))).toBe(messageId(message(5, {}, 4)));
    expect(messageId(message(5))).not.toBe(messageId(message(6)));
    expect(messageId(message(5))).toMatch(/^[0-9a-f]{24}$/);
  });

  it('rotates by size, keeps `keep` files and never splits a line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'audit-'));
    const file = join(dir, 'audit.ndjson');
    const log = new AuditLog({ file, maxBytes: 2000, keep: 2 });
    for (let i = 0; i < 100; i++) log.record('a', message(i), ok);
    log.close();
    expect(log.rotations).toBeGreaterThan(3);
    expect(readdirSync(dir).sort()).toEqual(['audit.ndjson', 'audit.ndjson.1', 'audit.ndjson.2']);
    let total = 0;
    for (const f of readdirSync(dir)) {
      const text = readFileSync(join(dir, f), 'utf8');
      expect(text.length).toBeLessThanOrEqual(2000);
      expect(text.endsWith('\n')).toBe(true);
      for (const line of text.trimEnd().split('\n')) {
        JSON.parse(line);
        total++;
      }
    }
    // The oldest files were deleted; what remains is whole lines only, the newest ones.
    expect(total).toBeGreaterThan(0);
    expect(total).toBeLessThan(100);
  });

  it('writes the same bytes pino writes for the record', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'audit-')), 'audit.ndjson');
    const log = new AuditLog({ file });
    const m = message(4, { 'x-message-id': 'id "quoted" \u00e9' }, 2);
    const failed: RunResult = { ...ok, status: 'trap', fuelUsed: null, message: 'unreachable\n"executed" \u2028 ✓' };
    void log.record('tri"age', m, ok);
    void log.record('triage', m, failed);
    void log.recordParked('triage', m, 'dead-letter.quarantine');
    log.close();
    const written = readFileSync(file, 'utf8').split('\n');
    let out = '';
    const reference = pino(
      { base: null, timestamp: false, messageKey: 'msg' },
      { write: (s: string) => void (out += s) },
    );
    const lines = written.slice(0, 3).map((l) => JSON.parse(l) as Record<string, unknown>);
    const strip = (r: Record<string, unknown>) => {
      const { level: _level, msg, ...rest } = r;
      return [rest, msg as string] as const;
    };
    for (const r of lines) {
      const [record, msg] = strip(r);
      reference.info(record, msg);
    }
    expect(written.slice(0, 3).join('\n') + '\n').toBe(out);
    expect(lines[2]).toMatchObject({
      agent: 'triage',
      status: 'quarantined',
      deadLetterTopic: 'dead-letter.quarantine',
      deliveryCount: 2,
      msg: 'parked',
    });
    expect(lines[2]!.fuelUsed).toBeUndefined();
  });

  it('batched: one write per event-loop turn, each caller resolved after its line is in the file', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'audit-')), 'audit.ndjson');
    const log = new AuditLog({ file, batch: true });
    const pending = Array.from({ length: 50 }, (_, i) => log.record('a', message(i, { 'x-message-id': `m-${i}` }), ok));
    // Nothing is written until the turn ends; each promise is settled only after the write.
    expect(readFileSync(file, 'utf8')).toBe('');
    let seen = -1;
    const first = pending[0]!.then(() => (seen = readFileSync(file, 'utf8').trimEnd().split('\n').length));
    await Promise.all(pending);
    await first;
    expect(seen).toBe(50);
    expect(log.writes).toBe(1);
    // The next turn is the next batch.
    await Promise.all([log.record('a', message(60), ok), log.recordParked('a', message(61), 'dl.quarantine')]);
    expect(log.writes).toBe(2);
    log.close();
    const ids = readFileSync(file, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => (JSON.parse(l) as { messageId: string }).messageId);
    expect(ids.slice(0, 50)).toEqual(Array.from({ length: 50 }, (_, i) => `m-${i}`));
    expect(ids).toHaveLength(52);
  });

  it('batched: writes within the turn, after the microtasks queued with the first line (the acks need no next turn)', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'audit-')), 'audit.ndjson');
    const log = new AuditLog({ file, batch: true });
    // Resolved together, as the runs of one worker answer are: each continuation writes its line.
    const results = Array.from({ length: 10 }, (_, i) => Promise.resolve(i));
    const pending = results.map((r) => r.then((i) => log.record('a', message(i), ok)));
    await Promise.all(pending);
    // One write for the ten, before any timer or I/O callback could run.
    expect(log.writes).toBe(1);
    let atImmediate = -1;
    const immediate = new Promise<void>((resolve) =>
      setImmediate(() => {
        atImmediate = log.writes;
        resolve();
      }),
    );
    void log.record('a', message(20), ok);
    await Promise.resolve();
    await Promise.resolve();
    expect(readFileSync(file, 'utf8').trimEnd().split('\n')).toHaveLength(11);
    await immediate;
    expect(atImmediate).toBe(2);
    log.close();
  });

  it('batched: writes early once batchBytes have gathered, and rotation still falls between lines', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'audit-'));
    const file = join(dir, 'audit.ndjson');
    const log = new AuditLog({ file, batch: true, batchBytes: 4096, maxBytes: 3000, keep: 100 });
    const pending = Array.from({ length: 200 }, (_, i) =>
      log.record('a', message(i, { 'x-message-id': `m-${i}` }), ok),
    );
    expect(log.writes).toBeGreaterThan(5); // flushed by size, before the turn ended
    await Promise.all(pending);
    log.close();
    let total = 0;
    for (const f of readdirSync(dir)) {
      const text = readFileSync(join(dir, f), 'utf8');
      expect(text.length).toBeLessThanOrEqual(3000);
      expect(text.endsWith('\n')).toBe(true);
      total += text
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown).length;
    }
    expect(total).toBe(200);
    expect(log.rotations).toBeGreaterThan(5);
  });

  it('batched: a failed write rejects the batch (the caller naks, no ack without a line)', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'audit-')), 'audit.ndjson');
    const log = new AuditLog({ file, batch: true });
    const p = log.record('a', message(1), ok);
    // Close the descriptor underneath it: the batch's write fails with EBADF.
    (log as unknown as { destination: { close(): void } }).destination.close();
    await expect(p).rejects.toThrow();
  });

  it('cuts a partial last line left by a kill when it opens the file', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'audit-')), 'audit.ndjson');
    writeFileSync(file, '{"a":1}\n{"a":2}\n');
    appendFileSync(file, '{"level":30,"ts":"2026-');
    const log = new AuditLog({ file });
    expect(log.repairedBytes).toBe('{"level":30,"ts":"2026-'.length);
    void log.record('a', message(1), ok);
    log.close();
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    for (const l of lines) JSON.parse(l);
    expect(new AuditLog({ file }).repairedBytes).toBe(0);
  });
});

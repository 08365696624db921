// The audit trail's lines (fields, ids, errors) and its size-based rotation.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunResult } from '../../runtime/agent/types.ts';
import { AuditLog, messageId } from '../../runtime/ops/audit-log.ts';
import type { QueueMessage } from '../../runtime/queue/types.ts';

function message(i: number, headers: Record<string, string> = {}, deliveryCount = 1): QueueMessage {
  return { topic: 'logs.app', payload: new Uint8Array([0x81, i & 0x7f]), key: undefined, headers, deliveryCount, ack() {}, nak() {}, term() {} };
}

const ok: RunResult = { status: 'ok', output: null, events: [], logs: [], logsDropped: 0, fuelUsed: 1234, memoryPeakBytes: 65536, durationMs: 0.25, engine: 'wasm' };

describe('AuditLog', () => {
  it('writes one parseable line per run with the run and message fields', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'audit-')), 'audit.ndjson');
    const log = new AuditLog({ file });
    log.record('triage', message(1, { 'x-message-id': 'm-1' }), ok);
    log.record('triage', message(2, {}, 3), { ...ok, status: 'out-of-fuel', fuelUsed: 5000, message: 'fuel limit 5000 reached' });
    log.record('triage', message(3), { ...ok, status: 'error', errorCode: 7 });
    // Synchronous: the lines are in the file before close.
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    log.close();
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({ agent: 'triage', messageId: 'm-1', topic: 'logs.app', deliveryCount: 1, status: 'ok', fuelUsed: 1234, memoryPeakBytes: 65536, durationMs: 0.25, msg: 'run' });
    expect(lines[0]!.error).toBeUndefined();
    expect(Date.parse(lines[0]!.ts as string)).not.toBeNaN();
    expect(lines[1]).toMatchObject({ deliveryCount: 3, status: 'out-of-fuel', error: 'fuel limit 5000 reached', messageId: messageId(message(2)) });
    expect(lines[2]).toMatchObject({ status: 'error', error: 'error code 7' });
    expect(log.lines).toBe(3);
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
});

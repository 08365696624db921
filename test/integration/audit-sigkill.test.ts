// The audit trail under SIGKILL: a child writes runs and "acks" them; after the kill every line parses and every ack has its line (per-line and batched writes).
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/paths.ts';

/** Runs the writer script until it has acked `lines` ids, kills it with SIGKILL, and returns a reader of its ack file. */
async function killAfterAcks(script: string, ackFile: string, lines: number): Promise<() => string> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  const ackedText = () => {
    try {
      return readFileSync(ackFile, 'utf8');
    } catch {
      return '';
    }
  };
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.once('exit', (_code, signal) => resolve(signal)),
  );
  const deadline = Date.now() + 30_000;
  while (ackedText().split('\n').length < lines) {
    if (Date.now() > deadline) throw new Error(`the writer did not get going: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  return ackedText;
}

/** Every line of the audit files must be whole and parse as the writer's record; returns the message ids and the line count. */
function readAuditFiles(dir: string, files: string[]): { ids: Set<string>; lines: number } {
  const ids = new Set<string>();
  let lines = 0;
  for (const f of files) {
    const text = readFileSync(join(dir, f), 'utf8');
    if (text.length === 0) continue;
    expect(text.endsWith('\n'), `${f} ends with a whole line`).toBe(true);
    for (const line of text.slice(0, -1).split('\n')) {
      const record = JSON.parse(line) as { messageId: string; status: string; fuelUsed: number };
      expect(record).toMatchObject({ status: 'trap', fuelUsed: 42 });
      ids.add(record.messageId);
      lines++;
    }
  }
  return { ids, lines };
}

/** A temporary directory for one writer child: its audit file, its script, its ack file, and the audit log module to import. */
function writerFiles(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    file: join(dir, 'audit.ndjson'),
    script: join(dir, 'writer.mts'),
    ackFile: join(dir, 'acked.txt'),
    moduleUrl: pathToFileURL(join(repoRoot, 'runtime', 'ops', 'audit-log.ts')).href,
  };
}

describe('audit log and SIGKILL', () => {
  it('leaves only whole lines, and a line for every message acked before the kill, across rotations', async () => {
    const { dir, file, script, ackFile, moduleUrl } = writerFiles('audit-kill-');
    // The child records a run, then "acks" it by appending its id to another file, as serve's onRun precedes the ack.
    writeFileSync(
      script,
      `import { openSync, writeSync } from 'node:fs';
const acks = openSync(${JSON.stringify(ackFile)}, 'a');
import { AuditLog } from ${JSON.stringify(moduleUrl)};
const log = new AuditLog({ file: ${JSON.stringify(file)}, maxBytes: 256 * 1024, keep: 50 });
const result = { status: 'trap', output: null, events: [], logs: [], logsDropped: 0, fuelUsed: 42, memoryPeakBytes: 65536, durationMs: 0.1, engine: 'wasm', message: 'unreachable executed: ' + 'x'.repeat(200) };
for (let i = 0; ; i++) {
  const id = 'm-' + i;
  log.record('writer', { topic: 'in.x', payload: new Uint8Array([i & 0x7f]), key: undefined, headers: { 'x-message-id': id }, deliveryCount: 1, ack() {}, nak() {}, term() {} }, result);
  writeSync(acks, id + '\\n');
}
`,
    );
    // Enough lines for several rotations, then kill it mid-stream.
    const ackedText = await killAfterAcks(script, ackFile, 5000);

    const files = readdirSync(dir).filter((f) => f.startsWith('audit.ndjson'));

    expect(files.length).toBeGreaterThan(3);
    const { ids, lines } = readAuditFiles(dir, files);
    const ackedIds = ackedText()
      .split('\n')
      .filter((l) => /^m-\d+$/.test(l));
    expect(ackedIds.length).toBeGreaterThanOrEqual(4999);
    const missing = ackedIds.filter((id) => !ids.has(id));
    expect(missing).toEqual([]);
    // At most the one run recorded but not yet acked when the kill landed.
    expect(lines - ackedIds.length).toBeLessThanOrEqual(1);
    expect(lines).toBe(ids.size);
  });

  it('batched (group commit): every acked id has its line; a cut last write is repaired on reopening, rotated files are whole', async () => {
    const { dir, file, script, ackFile, moduleUrl } = writerFiles('audit-kill-batch-');
    // Like serve: many runs end in one turn, each waits for its batch's write, then its message is acked.
    writeFileSync(
      script,
      `import { openSync, writeSync } from 'node:fs';
const acks = openSync(${JSON.stringify(ackFile)}, 'a');
import { AuditLog } from ${JSON.stringify(moduleUrl)};
const log = new AuditLog({ file: ${JSON.stringify(file)}, maxBytes: 512 * 1024, keep: 50, batch: true, batchBytes: 32 * 1024 });
const result = { status: 'trap', output: null, events: [], logs: [], logsDropped: 0, fuelUsed: 42, memoryPeakBytes: 65536, durationMs: 0.1, engine: 'wasm', message: 'unreachable executed: ' + 'x'.repeat(200) };
let next = 0;
for (;;) {
  const turn = [];
  for (let j = 0; j < 300; j++) {
    const id = 'm-' + next++;
    turn.push(log.record('writer', { topic: 'in.x', payload: new Uint8Array([j & 0x7f]), key: undefined, headers: { 'x-message-id': id }, deliveryCount: 1, ack() {}, nak() {}, term() {} }, result).then(() => writeSync(acks, id + '\\n')));
  }
  await Promise.all(turn);
}
`,
    );
    const ackedText = await killAfterAcks(script, ackFile, 20_000);

    const files = readdirSync(dir).filter((f) => /^audit\.ndjson(\.\d+)?$/.test(f));
    expect(files.length).toBeGreaterThan(3);
    // Rotated files were closed between writes: whole lines. Only the live file's last write can be cut.
    for (const f of files.filter((f) => f !== 'audit.ndjson'))
      expect(readFileSync(join(dir, f), 'utf8').endsWith('\n'), f).toBe(true);
    const live = readFileSync(file, 'utf8');
    const tail = live.length - (live.lastIndexOf('\n') + 1);
    const { AuditLog } = await import('../../runtime/ops/audit-log.ts');
    const reopened = new AuditLog({ file });
    expect(reopened.repairedBytes).toBe(tail);
    reopened.close();
    console.log(`batched SIGKILL: the live file had a partial last line of ${tail} bytes (cut on reopening)`);

    const { ids, lines } = readAuditFiles(dir, files);
    const ackedIds = ackedText()
      .split('\n')
      .filter((l) => /^m-\d+$/.test(l));
    expect(ackedIds.length).toBeGreaterThanOrEqual(19_999);
    expect(ackedIds.filter((id) => !ids.has(id))).toEqual([]);
    // Written but not acked when the kill landed: at most the batches in flight.
    expect(lines - ackedIds.length).toBeLessThanOrEqual(600);
    expect(lines).toBe(ids.size);
  });
});

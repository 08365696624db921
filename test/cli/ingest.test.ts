// `sandbox ingest` and ingestFile: every line published, skipped or dead-lettered, with line numbers; backpressure.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ingestFile, LINE_HEADER } from '../../runtime/cli/ingest.ts';
import { decode, encode } from '../../runtime/codec.ts';
import { createMemoryQueue } from '../../runtime/queue/memory.ts';
import { DEAD_LETTER_HEADERS, type QueueMessage } from '../../runtime/queue/types.ts';
import { runCli } from '../support/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'sandbox-ingest-'));

function file(name: string, lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

const SAMPLE = ['{"a":1}', '{"a":2', '', '[1,2,3]', 'not json', '"text"', '{"a":3}\r'];

describe('sandbox ingest', () => {
  it('publishes good lines and reports malformed ones with their line numbers', async () => {
    const path = file('sample.ndjson', SAMPLE);
    const r = await runCli(['ingest', path, '--topic', 'logs.app']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`${path}:2: invalid JSON`);
    expect(r.stderr).toContain(`${path}:5: invalid JSON`);
    expect(r.stderr).toMatch(/7 lines: 4 published, 2 malformed \(skipped\), 1 blank/);
    // Not a terminal: no progress bar, just the summary.
    expect(r.stderr).not.toContain('\r[');
  });

  it('ingestFile delivers each record as MessagePack with its line, and dead-letters malformed lines on request', async () => {
    const queue = createMemoryQueue();
    const got: QueueMessage[] = [];
    const dead: QueueMessage[] = [];
    await queue.subscribe('logs.>', (m) => void got.push(m));
    await queue.subscribe('dead-letter', (m) => void dead.push(m));
    const stats = await ingestFile(queue, file('dl.ndjson', SAMPLE), {
      topic: 'logs.app',
      deadLetter: 'dead-letter',
      keyField: 'a',
    });
    await new Promise((r) => setTimeout(r, 20));
    await queue.close();
    expect(stats).toMatchObject({
      lines: 7,
      published: 4,
      malformed: 2,
      deadLettered: 2,
      blank: 1,
      malformedLines: [2, 5],
      aborted: false,
    });
    expect(got.map((m) => [decode(m.payload), m.headers[LINE_HEADER], m.key])).toEqual([
      [{ a: 1 }, '1', '1'],
      [[1, 2, 3], '4', undefined],
      ['text', '6', undefined],
      [{ a: 3 }, '7', '3'],
    ]);
    expect(dead.map((m) => [decode(m.payload), m.headers[LINE_HEADER], m.headers[DEAD_LETTER_HEADERS.topic]])).toEqual([
      ['{"a":2', '2', 'logs.app'],
      ['not json', '5', 'logs.app'],
    ]);
    expect(dead[0]!.headers[DEAD_LETTER_HEADERS.reason]).toMatch(/^line 2: invalid JSON/);
  });

  it('waits for a slow consumer instead of buffering the file (backpressure), and loses nothing', async () => {
    const n = 5000;
    const path = file(
      'big.ndjson',
      Array.from({ length: n }, (_, i) => JSON.stringify({ i, pad: 'x'.repeat(50) })),
    );
    const queue = createMemoryQueue({ bufferSize: 64 });
    let consumed = 0;
    let published = 0;
    let maxAhead = 0;
    const seen = new Set<number>();
    await queue.subscribe(
      'big',
      async (m) => {
        seen.add((decode(m.payload) as { i: number }).i);
        consumed++;
        if (consumed % 100 === 0) await new Promise((r) => setTimeout(r, 1));
      },
      { prefetch: 16 },
    );
    const counting = {
      ...queue,
      kind: queue.kind,
      publish: async (msg: Parameters<typeof queue.publish>[0]) => {
        await queue.publish(msg);
        published++;
        maxAhead = Math.max(maxAhead, published - consumed);
      },
      publishMany: queue.publishMany.bind(queue),
      subscribe: queue.subscribe.bind(queue),
      close: queue.close.bind(queue),
    };
    const stats = await ingestFile(counting, path, { topic: 'big' });
    while (consumed < n) await new Promise((r) => setTimeout(r, 5));
    await queue.close();
    expect(stats.published).toBe(n);
    expect(seen.size).toBe(n);
    // The queue's buffer (64) plus the subscriber's prefetch (16) bounds what runs ahead of the consumer.
    expect(maxAhead).toBeLessThanOrEqual(64 + 16 + 1);
  });

  it('stops at an aborted signal and says so', async () => {
    const queue = createMemoryQueue();
    const controller = new AbortController();
    controller.abort();
    const stats = await ingestFile(queue, file('abort.ndjson', ['1', '2']), { topic: 't', signal: controller.signal });
    expect(stats).toMatchObject({ published: 0, aborted: true });
    await queue.close();
  });

  it('rejects usage errors', async () => {
    expect((await runCli(['ingest', file('x.ndjson', ['1'])])).stderr).toMatch(/--topic is required/);
    expect((await runCli(['ingest', join(dir, 'missing.ndjson'), '--topic', 't'])).code).toBe(2);
    expect((await runCli(['ingest', file('y.ndjson', ['1']), '--topic', 'a..b'])).code).toBe(2);
    expect((await runCli(['ingest', '--help'])).stdout).toMatch(/--dead-letter/);
    const directory = await runCli(['ingest', dir, '--topic', 't']);
    expect(directory.code).toBe(2);
    expect(directory.stderr).toMatch(/is a directory; give an \.ndjson file/);
  });

  it('prints its summary as JSON with --json, and errors too', async () => {
    const r = await runCli(['ingest', file('j.ndjson', ['{"a":1}', 'nope', '']), '--topic', 't', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ topic: 't', lines: 3, published: 1, malformed: 1, blank: 1 });
    const missing = await runCli(['ingest', join(dir, 'missing.ndjson'), '--topic', 't', '--json']);
    expect(JSON.parse(missing.stdout)).toEqual({
      error: { code: 'SANDBOX_USAGE', message: `no such file: ${join(dir, 'missing.ndjson')}` },
    });
  });

  it('publish encodes JSON as MessagePack and checks its arguments', async () => {
    const r = await runCli(['publish', 'logs.app', '{"level":"info"}']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`published to logs.app (${encode({ level: 'info' }).length} bytes, memory)`);
    expect((await runCli(['publish', 'logs.app', '{bad'])).code).toBe(2);
    expect((await runCli(['publish', 'logs.*', '1'])).code).toBe(2);
  });
});

// A graph service killed with SIGKILL mid-load comes back from its ledger file with every acknowledged transaction.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphClient } from '../../runtime/graph/client.ts';
import { GraphStore } from '../../runtime/graph/ledger.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'graph-crash-'));
let cleanupChild: ChildProcess | undefined;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The child is written at run time so it can import the sources of this checkout, wherever it lives.
const childFile = join(dir, 'child.mts');
writeFileSync(
  childFile,
  `import { GraphServer } from ${JSON.stringify(pathToFileURL(join(repoRoot, 'runtime/graph/server.ts')).href)};
const s = await GraphServer.listen({ socket: process.argv[2], ledgerFile: process.argv[3] });
process.stdout.write('ready ' + s.store.lastSeq + '\\n');
`,
);

function startChild(socket: string, ledger: string): Promise<{ child: ChildProcess; seq: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', childFile, socket, ledger], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((res, rej) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /ready (\d+)/.exec(out);
      if (m) res({ child, seq: Number(m[1]) });
    });
    child.once('exit', (code) => rej(new Error(`child exited ${code}: ${err}`)));
  });
}

describe('ledger recovery after SIGKILL', () => {
  it('loses no acknowledged transaction and replays to the same graph', async () => {
    const socket = join(dir, 'g.sock');
    const ledger = join(dir, 'g.ledger');
    const first = await startChild(socket, ledger);
    expect(first.seq).toBe(0);
    const client = await GraphClient.connect(`unix://${socket}`, { env: {}, connectTimeoutMs: 5_000 });
    try {
      const acked = new Map<number, string>();
      let killed = false;
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 10_000; i++) {
        const ops =
          i === 0
            ? [{ op: 'addNode' as const, key: 'n0', attributes: { i } }]
            : [
                { op: 'addNode' as const, key: `n${i}`, attributes: { i } },
                { op: 'addEdge' as const, source: `n${i - 1}`, target: `n${i}` },
              ];
        writes.push(
          client.apply(ops).then(
            ({ seq }) => {
              acked.set(seq, `n${i}`);
              if (acked.size === 500 && !killed) {
                killed = true;
                first.child.kill('SIGKILL');
              }
            },
            () => {}, // lost with the connection: may or may not have been written
          ),
        );
        if (i % 100 === 99) await new Promise((r) => setImmediate(r));
        if (killed) break; // later requests would only wait for a service that is gone
      }
      await Promise.all(writes);
      expect(killed).toBe(true);
      if (first.child.exitCode === null && first.child.signalCode === null)
        await new Promise((r) => first.child.once('exit', r));
      expect(acked.size).toBeGreaterThanOrEqual(500);
      expect(acked.size).toBeLessThan(10_000);

      const second = await startChild(socket, ledger);
      cleanupChild = second.child;
      const maxAcked = Math.max(...acked.keys());
      expect(second.seq).toBeGreaterThanOrEqual(maxAcked);
      const exported = await client.export(); // the client reconnects by itself
      const keys = new Set(exported.nodes.map((x) => x.key));
      for (const key of acked.values()) expect(keys.has(key)).toBe(true);

      // What the service holds is exactly the replay of its ledger.
      const ledgerSlice = await client.getLedger(0);
      expect(ledgerSlice.complete).toBe(true);
      const replay = new GraphStore();
      for (const tx of ledgerSlice.entries) replay.apply(tx.ops);
      expect(replay.toJSON()).toEqual(exported);
      expect(ledgerSlice.lastSeq).toBe(second.seq);
    } finally {
      await client.close();
      cleanupChild?.kill('SIGKILL');
    }
  }, 60_000);
});

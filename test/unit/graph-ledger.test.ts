// GraphStore ledger: atomic transactions, getLedger/clearLedger, subscriptions, file recovery and torn tails.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isGraphError, type GraphError } from '../../runtime/graph/errors.ts';
import { GraphStore, type Transaction } from '../../runtime/graph/ledger.ts';

const dirs: string[] = [];
function tempFile(): string {
  const d = mkdtempSync(join(tmpdir(), 'graph-ledger-'));
  dirs.push(d);
  return join(d, 'ledger.bin');
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function sorted(store: GraphStore) {
  const j = store.toJSON();
  return {
    nodes: [...j.nodes].sort((a, b) => a.key.localeCompare(b.key)),
    edges: [...j.edges].sort((a, b) => `${a.source}>${a.target}`.localeCompare(`${b.source}>${b.target}`)),
  };
}

describe('GraphStore transactions', () => {
  it('numbers every mutation and records its operations', () => {
    const s = new GraphStore();
    expect(s.addNode('a', { type: 'task' }).seq).toBe(1);
    expect(s.addNode('b').seq).toBe(2);
    const tx = s.apply([
      { op: 'addEdge', source: 'a', target: 'b' },
      { op: 'updateNode', key: 'b', attributes: { done: true } },
    ]);
    expect(tx.seq).toBe(3);
    expect(tx.ops).toEqual([
      { op: 'addEdge', source: 'a', target: 'b' },
      { op: 'updateNode', key: 'b', attributes: { done: true } },
    ]);
    const slice = s.getLedger(1);
    expect(slice.entries.map((e) => e.seq)).toEqual([2, 3]);
    expect(slice).toMatchObject({ lastSeq: 3, complete: true });
  });

  it('applies a transaction atomically: a failing operation undoes the earlier ones', () => {
    const s = new GraphStore();
    s.apply([
      { op: 'addNode', key: 'a' },
      { op: 'addNode', key: 'b' },
      { op: 'addEdge', source: 'a', target: 'b', attributes: { w: 1 } },
    ]);
    const before = s.toJSON();
    let err: unknown;
    try {
      s.apply([
        { op: 'removeNode', key: 'a' },
        { op: 'addNode', key: 'c' },
        { op: 'updateNode', key: 'b', attributes: { x: 1 } },
        { op: 'clear' },
        { op: 'addEdge', source: 'b', target: 'nope' },
      ]);
    } catch (e) {
      err = e;
    }
    expect(isGraphError(err, 'GRAPH_NODE_NOT_FOUND')).toBe(true);
    expect((err as GraphError).data?.['opIndex']).toBe(4);
    expect(s.toJSON()).toEqual(before);
    expect(s.lastSeq).toBe(1);
    expect(s.getLedger().entries.length).toBe(1);
    expect(() => s.apply([{ op: 'bogus' }])).toThrow(/unknown operation/);
  });

  it('notifies subscribers and stops after unsubscribe; a throwing subscriber changes nothing', () => {
    const s = new GraphStore();
    const seen: Transaction[] = [];
    const off = s.subscribe((tx) => seen.push(tx));
    s.subscribe(() => {
      throw new Error('bad listener');
    });
    s.addNode('a');
    off();
    s.addNode('b');
    expect(seen.map((t) => t.seq)).toEqual([1]);
    expect(s.graph.order).toBe(2);
  });

  it('clearLedger forgets history but keeps the graph and the numbering', () => {
    const s = new GraphStore();
    s.addNode('a');
    s.addNode('b');
    s.clearLedger();
    expect(s.getLedger(0)).toEqual({ entries: [], lastSeq: 2, complete: false });
    expect(s.addNode('c').seq).toBe(3);
    expect(s.getLedger(2).entries.map((e) => e.seq)).toEqual([3]);
    expect(s.getLedger(2).complete).toBe(true);
    expect(s.graph.order).toBe(3);
  });

  it('bounds the in-memory ledger and says when it is incomplete', () => {
    const s = new GraphStore({ maxLedgerEntries: 3 });
    for (let i = 0; i < 6; i++) s.addNode(`n${i}`);
    expect(s.getLedger(0)).toMatchObject({ complete: false, lastSeq: 6 });
    expect(s.getLedger(3)).toMatchObject({ complete: true });
    expect(s.getLedger(3).entries.map((e) => e.seq)).toEqual([4, 5, 6]);
  });

  it('replaces the graph through fromJSON as one transaction', () => {
    const s = new GraphStore();
    s.addNode('old');
    const tx = s.fromJSON({ nodes: [{ key: 'x' }, { key: 'y' }], edges: [{ source: 'x', target: 'y' }] });
    expect(tx.seq).toBe(2);
    expect(s.toJSON()).toEqual({ nodes: [{ key: 'x' }, { key: 'y' }], edges: [{ source: 'x', target: 'y' }] });
  });
});

describe('GraphStore ledger file', () => {
  it('recovers the graph exactly after reopening, including after clearLedger compaction', () => {
    const file = tempFile();
    const a = new GraphStore({ ledgerFile: file });
    a.apply([
      { op: 'addNode', key: 'a', attributes: { type: 'task', tags: ['x', 'y'], n: 1.5, bin: Buffer.from([1, 2]) } },
      { op: 'addNode', key: 'b' },
    ]);
    a.addEdge('a', 'b', { weight: 2 });
    a.removeNode('b');
    a.addNode('c');
    a.addEdge('a', 'c');
    const snapshot = a.toJSON();
    a.close();
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const b = new GraphStore({ ledgerFile: file });
    expect(b.toJSON()).toEqual(snapshot);
    expect(b.lastSeq).toBe(5);
    expect(b.recovery).toEqual({ records: 5, droppedBytes: 0 });
    expect(b.getLedger(0).entries.length).toBe(5);
    b.clearLedger();
    b.addNode('d');
    const after = b.toJSON();
    b.close();

    const c = new GraphStore({ ledgerFile: file });
    expect(c.toJSON()).toEqual(after);
    expect(c.lastSeq).toBe(6);
    expect(c.recovery.records).toBe(2); // the snapshot and one transaction
    c.close();
  });

  it('drops a torn last record and keeps appending cleanly', () => {
    const file = tempFile();
    const a = new GraphStore({ ledgerFile: file });
    a.addNode('a');
    a.addNode('b');
    a.close();
    const full = readFileSync(file);
    writeFileSync(file, full.subarray(0, full.length - 3)); // the last record loses its tail
    const b = new GraphStore({ ledgerFile: file });
    expect(b.graph.nodeKeysList()).toEqual(['a']);
    expect(b.recovery.droppedBytes).toBeGreaterThan(0);
    b.addNode('z');
    b.close();
    const c = new GraphStore({ ledgerFile: file });
    expect(sorted(c).nodes.map((n) => n.key)).toEqual(['a', 'z']);
    expect(c.lastSeq).toBe(2);
    c.close();
  });

  it('refuses a file damaged before its end', () => {
    const file = tempFile();
    const a = new GraphStore({ ledgerFile: file });
    a.addNode('a');
    a.addNode('b');
    a.close();
    const buf = readFileSync(file);
    buf[10] = buf[10]! ^ 0xff; // inside the first record's body
    writeFileSync(file, buf);
    let err: unknown;
    try {
      new GraphStore({ ledgerFile: file });
    } catch (e) {
      err = e;
    }
    expect(isGraphError(err, 'GRAPH_LEDGER_CORRUPT')).toBe(true);
    appendFileSync(file, Buffer.alloc(0));
  });
});

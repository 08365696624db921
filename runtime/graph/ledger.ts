// GraphStore: a Graph whose every mutation is an atomic, sequence-numbered transaction kept in a ledger.
import { GraphError } from './errors.ts';
import { Graph, type Attributes, type GraphJSON } from './graph.ts';
import { LedgerFile, type LedgerRecord } from './ledger-file.ts';
import { applyOp, normalizeOp, type GraphOp } from './ops.ts';

export interface Transaction {
  seq: number;
  /** Milliseconds since the epoch when it was applied. */
  time: number;
  ops: GraphOp[];
}

export interface LedgerSlice {
  entries: Transaction[];
  /** Sequence number of the newest transaction (0 before any). */
  lastSeq: number;
  /** False when transactions after `sinceSeq` were dropped (by clearLedger or the in-memory bound). */
  complete: boolean;
}

export interface GraphStoreOptions {
  /** Append every transaction to this file and recover the graph from it when it exists. */
  ledgerFile?: string;
  /** fsync after each append (survives power loss, not just a killed process). Default false. */
  fsync?: boolean;
  /** Transactions kept in memory for getLedger (default 100,000); the file keeps all of them. */
  maxLedgerEntries?: number;
}

export type LedgerListener = (tx: Transaction) => void;

export class GraphStore {
  readonly graph = new Graph();
  private seq = 0;
  private entries: Transaction[] = [];
  /** Lowest seq that getLedger can still return, minus one. */
  private droppedThrough = 0;
  private readonly listeners = new Set<LedgerListener>();
  private readonly maxEntries: number;
  private file: LedgerFile | undefined;
  /** What recovery found: records replayed and bytes cut off a torn tail. */
  readonly recovery: { records: number; droppedBytes: number } = { records: 0, droppedBytes: 0 };

  constructor(options: GraphStoreOptions = {}) {
    this.maxEntries = options.maxLedgerEntries ?? 100_000;
    if (options.ledgerFile !== undefined) {
      const { file, records, droppedBytes } = LedgerFile.open(options.ledgerFile, { fsync: options.fsync === true });
      this.file = file;
      this.recovery.records = records.length;
      this.recovery.droppedBytes = droppedBytes;
      for (const rec of records) this.replay(rec);
    }
  }

  private replay(rec: LedgerRecord): void {
    if (rec.seq <= this.seq && rec.t === 'tx') {
      throw new GraphError('GRAPH_LEDGER_CORRUPT', `ledger sequence goes backwards at ${rec.seq}`);
    }
    if (rec.t === 'snapshot') {
      this.graph.clear();
      this.graph.load(rec.graph);
      this.seq = rec.seq;
      this.entries = [];
      this.droppedThrough = rec.seq;
      return;
    }
    for (const op of rec.ops) applyOp(this.graph, op);
    this.seq = rec.seq;
    this.remember({ seq: rec.seq, time: rec.time, ops: rec.ops });
  }

  get lastSeq(): number {
    return this.seq;
  }

  /** Applies `ops` atomically: all of them, or (on the first failure) none, and the error says which failed. */
  apply(rawOps: readonly unknown[]): Transaction {
    if (!Array.isArray(rawOps) || rawOps.length === 0)
      throw new GraphError('GRAPH_INVALID_ARGUMENT', '`ops` must be a non-empty array');
    const ops = rawOps.map((o, i) => {
      try {
        return normalizeOp(o);
      } catch (err) {
        throw withOpIndex(err, i);
      }
    });
    const undo: (() => void)[] = [];
    for (let i = 0; i < ops.length; i++) {
      try {
        undo.push(applyOp(this.graph, ops[i]!));
      } catch (err) {
        for (let j = undo.length - 1; j >= 0; j--) undo[j]!();
        throw withOpIndex(err, i);
      }
    }
    const tx: Transaction = { seq: this.seq + 1, time: Date.now(), ops };
    // Written before it is acknowledged: a reply means the transaction is in the file.
    this.file?.append({ t: 'tx', seq: tx.seq, time: tx.time, ops });
    this.seq = tx.seq;
    this.remember(tx);
    for (const fn of this.listeners) {
      try {
        fn(tx);
      } catch {
        // A failing subscriber must not undo or block a committed transaction.
      }
    }
    return tx;
  }

  private remember(tx: Transaction): void {
    this.entries.push(tx);
    if (this.entries.length > this.maxEntries) {
      const drop = this.entries.length - this.maxEntries;
      this.droppedThrough = this.entries[drop - 1]!.seq;
      this.entries.splice(0, drop);
    }
  }

  addNode(key: string, attributes?: Attributes): Transaction {
    return this.apply([{ op: 'addNode', key, attributes }]);
  }
  updateNode(key: string, attributes: Attributes, merge = false): Transaction {
    return this.apply([{ op: 'updateNode', key, attributes, merge }]);
  }
  removeNode(key: string): Transaction {
    return this.apply([{ op: 'removeNode', key }]);
  }
  addEdge(source: string, target: string, attributes?: Attributes): Transaction {
    return this.apply([{ op: 'addEdge', source, target, attributes }]);
  }
  updateEdge(source: string, target: string, attributes: Attributes, merge = false): Transaction {
    return this.apply([{ op: 'updateEdge', source, target, attributes, merge }]);
  }
  removeEdge(source: string, target: string): Transaction {
    return this.apply([{ op: 'removeEdge', source, target }]);
  }

  /** Transactions with a sequence number above `sinceSeq`, oldest first. */
  getLedger(sinceSeq = 0): LedgerSlice {
    if (typeof sinceSeq !== 'number' || !Number.isFinite(sinceSeq))
      throw new GraphError('GRAPH_INVALID_ARGUMENT', '`sinceSeq` must be a number');
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.entries[mid]!.seq <= sinceSeq) lo = mid + 1;
      else hi = mid;
    }
    return { entries: this.entries.slice(lo), lastSeq: this.seq, complete: sinceSeq >= this.droppedThrough };
  }

  /** Forgets past transactions; the file is compacted to one snapshot of the current graph. Sequence numbers go on. */
  clearLedger(): void {
    this.entries = [];
    this.droppedThrough = this.seq;
    this.file?.compact({ t: 'snapshot', seq: this.seq, graph: this.graph.toJSON() });
  }

  toJSON(): GraphJSON {
    return this.graph.toJSON();
  }

  /** Replaces the whole graph with `json`, as one transaction. */
  fromJSON(json: GraphJSON): Transaction {
    return this.apply([{ op: 'clear' }, { op: 'load', graph: json }]);
  }

  subscribe(listener: LedgerListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.listeners.clear();
    this.file?.close();
    this.file = undefined;
  }
}

function withOpIndex(err: unknown, index: number): unknown {
  if (err instanceof GraphError) {
    return new GraphError(
      err.code,
      `operation ${index}: ${err.message}`,
      { ...err.data, opIndex: index },
      { cause: err },
    );
  }
  return err;
}

// One scenario, three transports (embedded, Unix socket, TCP with token): every method answers the same way.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphClient } from '../../runtime/graph/client.ts';
import { GraphServer } from '../../runtime/graph/server.ts';

const dir = mkdtempSync(join(tmpdir(), 'graph-transports-'));
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

const transports: Record<string, () => Promise<GraphClient>> = {
  embedded: async () => GraphClient.embedded(),
  unix: async () => {
    const s = await GraphServer.listen({ socket: join(dir, 'u.sock') });
    closers.push(() => s.close());
    return GraphClient.connect(s.url, { env: {} });
  },
  tcp: async () => {
    const s = await GraphServer.listen({ port: 0, token: 'secret' });
    closers.push(() => s.close());
    return GraphClient.connect(s.url, { token: 'secret', env: {} });
  },
};

async function scenario(c: GraphClient): Promise<unknown[]> {
  const out: unknown[] = [];
  const step = async (method: string, params: Record<string, unknown> = {}) => {
    try {
      out.push([method, await c.request(method, params)]);
    } catch (e) {
      out.push([method, 'error', (e as { code: string }).code, (e as { data?: unknown }).data ?? null]);
    }
  };
  const events: number[] = [];
  const off = await c.subscribe((tx) => events.push(tx.seq));
  await step('apply', {
    ops: [
      { op: 'addNode', key: 'fetch', attributes: { type: 'task', cost: 2 } },
      { op: 'addNode', key: 'build', attributes: { type: 'task', tags: ['ci'] } },
      { op: 'addNode', key: 'test', attributes: { type: 'task' } },
      { op: 'addNode', key: 'ship', attributes: { type: 'release', blob: Buffer.from([1, 2, 3]) } },
      { op: 'addEdge', source: 'fetch', target: 'build', attributes: { weight: 3 } },
      { op: 'addEdge', source: 'build', target: 'test', attributes: { weight: 1 } },
      { op: 'addEdge', source: 'test', target: 'ship', attributes: { weight: 1 } },
      { op: 'addEdge', source: 'fetch', target: 'ship', attributes: { weight: 10 } },
    ],
  });
  await step('stats');
  await step('getNode', { key: 'ship' });
  await step('getNode', { key: 'nope' });
  await step('getEdge', { source: 'fetch', target: 'build' });
  await step('neighbors', { key: 'fetch', direction: 'out' });
  await step('neighbors', { key: 'ship', direction: 'in' });
  await step('degree', { key: 'ship' });
  await step('topologicalSort');
  await step('findCycle');
  await step('shortestPath', { source: 'fetch', target: 'ship' });
  await step('shortestPath', { source: 'ship', target: 'fetch' });
  await step('shortestPathLengths', { source: 'build' });
  await step('subgraphMatch', {
    pattern: {
      nodes: [
        { key: 'a', attributes: { type: 'task' } },
        { key: 'b', attributes: { type: 'release' } },
      ],
      edges: [{ source: 'a', target: 'b' }],
    },
  });
  await step('subgraph', { keys: ['build', 'test'] });
  await step('updateNode', { key: 'test', attributes: { flaky: true }, merge: true });
  await step('addEdge', { source: 'ship', target: 'fetch' });
  await step('topologicalSort');
  await step('findCycle');
  await step('removeEdge', { source: 'ship', target: 'fetch' });
  await step('apply', {
    ops: [
      { op: 'addNode', key: 'x' },
      { op: 'addEdge', source: 'x', target: 'missing' },
    ],
  });
  await step('addNode', { key: 'fetch' });
  await step('addNode', { key: '' });
  await step('noSuchMethod');
  await step('export');
  await step('getLedger', { sinceSeq: 3 });
  await step('parseFile', { path: 'mod.py', source: 'def a():\n    b()\ndef b():\n    pass\n' });
  await step('clearLedger');
  await step('getLedger', { sinceSeq: 0 });
  await c.request('ping');
  out.push(['events', events]);
  await off();
  return out.map((entry) => JSON.parse(JSON.stringify(entry, (k, v) => (k === 'time' ? 'T' : v))));
}

describe('graph transports give identical answers', () => {
  const results: Record<string, unknown[]> = {};
  for (const [name, open] of Object.entries(transports)) {
    it(name, async () => {
      const c = await open();
      try {
        expect(c.mode).toBe(name === 'embedded' ? 'embedded' : 'remote');
        results[name] = await scenario(c);
      } finally {
        await c.close();
      }
      const r = results[name]!;
      const get = (i: number) => (r[i] as unknown[])[1];
      expect(get(8)).toEqual({ order: ['fetch', 'build', 'test', 'ship'] });
      expect(get(10)).toEqual({ reachable: true, distance: 5, path: ['fetch', 'build', 'test', 'ship'] });
      expect(get(11)).toEqual({ reachable: false, distance: null, path: null });
      expect(r[17]).toEqual(['topologicalSort', 'error', 'GRAPH_CYCLE', { cycle: ['build', 'test', 'ship', 'fetch'] }]);
      expect(r[20]).toEqual(['apply', 'error', 'GRAPH_NODE_NOT_FOUND', { key: 'missing', opIndex: 1 }]);
      expect(r[23]).toEqual(['noSuchMethod', 'error', 'GRAPH_UNKNOWN_METHOD', { method: 'noSuchMethod' }]);
      expect(r[r.length - 1]).toEqual(['events', [1, 2, 3, 4]]);
    });
  }
  it('all transports agree', () => {
    expect(Object.keys(results).sort()).toEqual(['embedded', 'tcp', 'unix']);
    expect(results['unix']).toEqual(results['embedded']);
    expect(results['tcp']).toEqual(results['embedded']);
  });
});

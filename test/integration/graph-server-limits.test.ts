// Graph service hardening (defect 4 of issue 12) and namespaces over the wire: pre-auth frame limit, auth deadline, caps.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../../runtime/index.ts';
import { GraphClient } from '../../runtime/graph/client.ts';
import { decode, encodeFrame, FrameDecoder } from '../../runtime/graph/protocol.ts';
import { GraphServer, type GraphServerOptions } from '../../runtime/graph/server.ts';
import { fixturePath, requireBuilt } from '../support/paths.ts';

let dir: string;
const cleanup: (() => unknown)[] = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'graph-limits-'));
});
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
async function server(options: Omit<GraphServerOptions, 'socket'> = {}): Promise<GraphServer> {
  const s = await GraphServer.listen(
    options.port !== undefined ? options : { socket: join(dir, `s${n++}.sock`), ...options },
  );
  cleanup.push(() => s.close());
  return s;
}

/** A bare connection: the replies it got, and whether the service closed it. */
interface Raw {
  sock: Socket;
  replies: { id?: unknown; result?: unknown; error?: { code: string } }[];
  closed: Promise<void>;
}

async function raw(s: GraphServer): Promise<Raw> {
  const url = s.url;
  const sock = url.startsWith('unix://')
    ? createConnection(url.slice(7))
    : createConnection(Number(url.split(':').at(-1)), '127.0.0.1');
  sock.on('error', () => {});
  const decoder = new FrameDecoder();
  const replies: Raw['replies'] = [];
  sock.on('data', (c: Buffer) => {
    for (const f of decoder.push(c)) if (f.kind === 'frame') replies.push(decode(f.body) as Raw['replies'][number]);
  });
  const closed = new Promise<void>((r) =>
    sock.once('close', () => {
      r();
    }),
  );
  cleanup.push(() => sock.destroy());
  await new Promise<void>((r, j) => {
    sock.once('connect', () => {
      r();
    });
    sock.once('error', j);
  });
  return { sock, replies, closed };
}

const within = <T>(p: Promise<T>, ms: number): Promise<T | 'late'> =>
  Promise.race([
    p,
    new Promise<'late'>((r) =>
      setTimeout(() => {
        r('late');
      }, ms),
    ),
  ]);

describe('graph service before auth', () => {
  it('closes a connection that announces a frame over 4 KiB before auth, without buffering it', async () => {
    const s = await server({ port: 0, token: 'secret' });
    const conns = await Promise.all(Array.from({ length: 20 }, () => raw(s)));
    const header = Buffer.alloc(4);
    header.writeUInt32BE(16 * 1024 * 1024 - 1);
    for (const c of conns) c.sock.write(Buffer.concat([header, Buffer.alloc(1024)]));
    for (const c of conns) expect(await within(c.closed, 2_000)).not.toBe('late');
    expect(conns[0]!.replies[0]?.error?.code).toBe('GRAPH_FRAME_TOO_LARGE');
    for (let i = 0; i < 50 && s.connections > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(s.connections).toBe(0);
  });

  it('still takes a large frame after auth', async () => {
    const s = await server({ port: 0, token: 'secret' });
    const client = await GraphClient.connect(s.url, { token: 'secret', env: {} });
    cleanup.push(() => client.close());
    await client.addNode('big', { blob: 'x'.repeat(100_000) });
    expect(await client.request('hasNode', { key: 'big' })).toBe(true);
  });

  it('closes a connection that does not authenticate within the auth deadline (a slow client)', async () => {
    const s = await server({ port: 0, token: 'secret', authTimeoutMs: 200 });
    const c = await raw(s);
    c.sock.write(Buffer.from([0, 0])); // half a header, then nothing
    const t0 = Date.now();
    expect(await within(c.closed, 2_000)).not.toBe('late');
    expect(Date.now() - t0).toBeLessThan(1_500);
  });

  it('refuses connections past maxConnections', async () => {
    const s = await server({ port: 0, token: 'secret', maxConnections: 5 });
    const conns = await Promise.all(Array.from({ length: 8 }, () => raw(s)));
    const closed = await Promise.all(conns.map((c) => within(c.closed, 500).then((v) => v !== 'late')));
    expect(closed.filter(Boolean)).toHaveLength(3);
    expect(s.connections).toBe(5);
  });
});

describe('graph service caps on authenticated clients', () => {
  it('stops reading a connection with maxInFlight requests running', async () => {
    const repo = join(dir, 'repo');
    mkdirSync(repo, { recursive: true });
    for (let i = 0; i < 30; i++) writeFileSync(join(repo, `f${i}.ts`), `export function f${i}() { return ${i}; }\n`);
    const s = await server({ maxInFlight: 1 });
    const c = await raw(s);
    // A slow asynchronous request, then a cheap synchronous one in the same write.
    c.sock.write(
      Buffer.concat([
        encodeFrame({ id: 1, method: 'parseRepository', params: { root: repo } }),
        encodeFrame({ id: 2, method: 'ping' }),
      ]),
    );
    for (let i = 0; i < 300 && c.replies.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    expect(c.replies.map((r) => r.id)).toEqual([1, 2]);
  }, 30_000);

  it('caps subgraphMatch maxSteps whatever the request says', async () => {
    const s = await server({ maxSteps: 1000 });
    const client = await GraphClient.connect(s.url, { env: {} });
    cleanup.push(() => client.close());
    const ops = [];
    for (let i = 0; i < 30; i++) ops.push({ op: 'addNode', key: `n${i}` });
    for (let i = 0; i < 30; i++)
      for (let j = 0; j < 30; j++) if (i !== j) ops.push({ op: 'addEdge', source: `n${i}`, target: `n${j}` });
    await client.apply(ops as never);
    const pattern = {
      nodes: [{ key: 'a' }, { key: 'b' }, { key: 'c' }],
      edges: [
        { source: 'a', target: 'b' },
        { source: 'b', target: 'c' },
      ],
    };
    const r = await client.subgraphMatch(pattern, { maxSteps: 1e12, limit: 1e9 });
    expect(r.steps).toBeLessThanOrEqual(1000);
    expect(r.stoppedBy).toBe('steps');
  });

  it('caps subgraphMatch limit (matches held in memory) whatever the request says', async () => {
    const s = await server({ maxMatches: 50 });
    const client = await GraphClient.connect(s.url, { env: {} });
    cleanup.push(() => client.close());
    await client.apply(Array.from({ length: 200 }, (_, i) => ({ op: 'addNode', key: `n${i}` })) as never);
    const r = await client.subgraphMatch({ nodes: [{ key: 'a' }], edges: [] }, { limit: 1e9 });
    expect(r.matches).toHaveLength(50);
    expect(r.stoppedBy).toBe('limit');
  });
});

describe('values the service can store but not encode', () => {
  it('answers an error for them instead of crashing the service', async () => {
    const s = await server();
    const c = await raw(s);
    // addNode with attributes nested deep enough that msgpackr decodes them but cannot encode them back (how deep
    // depends on this thread's stack, so it is found here, where the service runs).
    const nested = (d: number) => Buffer.concat([Buffer.alloc(d, 0x91), Buffer.from([0xc0])]);
    // Probed from a fresh event-loop turn, with as little stack below it as the service's socket handler has.
    const depth = await new Promise<number | undefined>((resolve) => {
      setImmediate(() => {
        resolve(
          [2000, 3000, 5000, 8000, 12000, 16000].find((d) => {
            try {
              const value = decode(nested(d));
              try {
                encodeFrame(value);
                return false;
              } catch {
                return true;
              }
            } catch {
              return false;
            }
          }),
        );
      });
    });
    expect(depth, 'a depth msgpackr decodes but cannot encode').toBeDefined();
    const head = encodeFrame({ id: 1, method: 'addNode', params: { key: 'k', attributes: { x: 0 } } });
    const body = Buffer.concat([head.subarray(4, head.length - 1), nested(depth!)]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    c.sock.write(
      Buffer.concat([
        len,
        body,
        encodeFrame({ id: 2, method: 'getNode', params: { key: 'k' } }),
        encodeFrame({ id: 3, method: 'ping' }),
      ]),
    );
    for (let i = 0; i < 100 && c.replies.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    expect(c.replies.map((r) => r.id)).toEqual([1, 2, 3]);
    expect(c.replies[1]?.error?.code).toBe('GRAPH_INTERNAL');
    expect(c.replies[2]?.result).toMatchObject({ pong: true });
  });
});

describe('namespaces where the graph lives', () => {
  it('caps the nodes and edges of each namespace, not of the service', async () => {
    const s = await server({ maxNamespaceElements: 5 });
    const client = await GraphClient.connect(s.url, { env: {} });
    cleanup.push(() => client.close());
    const a = { namespace: 'a' };
    for (let i = 0; i < 4; i++) await client.request('addNode', { key: `n${i}` }, a);
    await client.request('addEdge', { source: 'n0', target: 'n1' }, a);
    await expect(client.request('addNode', { key: 'n4' }, a)).rejects.toMatchObject({ code: 'GRAPH_NAMESPACE_FULL' });
    await expect(client.request('apply', { ops: [{ op: 'addNode', key: 'n4' }] }, a)).rejects.toMatchObject({
      code: 'GRAPH_NAMESPACE_FULL',
    });
    await client.request('addNode', { key: 'other' }, { namespace: 'b' });
    await client.request('removeEdge', { source: 'n0', target: 'n1' }, a);
    await client.request('addNode', { key: 'n4' }, a);
    expect(await client.request('nodes', {}, a)).toHaveLength(5);
  });

  it('keeps a store per namespace and confines a client to the namespaces its token names', async () => {
    const s = await server({ port: 0, token: 'owner', clients: [{ token: 'tenant-a', namespaces: ['a'] }] });
    const owner = await GraphClient.connect(s.url, { token: 'owner', env: {} });
    const tenant = await GraphClient.connect(s.url, { token: 'tenant-a', env: {} });
    cleanup.push(
      () => owner.close(),
      () => tenant.close(),
    );
    await tenant.request('addNode', { key: 'mine' }, { namespace: 'a' });
    await owner.request('addNode', { key: 'theirs' }, { namespace: 'b' });
    expect(await owner.request('nodes')).toEqual([]);
    expect(await owner.request('nodes', {}, { namespace: 'a' })).toEqual(['mine']);
    for (const namespace of ['b', 'default']) {
      await expect(tenant.request('nodes', {}, { namespace })).rejects.toMatchObject({ code: 'GRAPH_UNAUTHORIZED' });
      await expect(tenant.request('clear', {}, { namespace })).rejects.toMatchObject({ code: 'GRAPH_UNAUTHORIZED' });
    }
    await expect(tenant.request('parseRepository', { root: dir }, { namespace: 'a' })).rejects.toMatchObject({
      code: 'GRAPH_UNAUTHORIZED',
    });
    await expect(tenant.dropNamespace('b')).rejects.toMatchObject({ code: 'GRAPH_UNAUTHORIZED' });
    expect(await owner.request('nodes', {}, { namespace: 'b' })).toEqual(['theirs']);
  });

  it('serves agents through a token confined to the namespace their grants name', async () => {
    const s = await server({ port: 0, token: 'owner', clients: [{ token: 'team-token', namespaces: ['team'] }] });
    const client = await GraphClient.connect(s.url, { token: 'team-token', env: {} });
    cleanup.push(() => client.close());
    const sandbox = new Sandbox({ workers: 1, graph: client });
    cleanup.push(() => sandbox.close());
    const agent = await sandbox.load(requireBuilt(fixturePath('graph-call')), { graph: { namespace: 'team' } });
    expect((await agent.run({ method: 'addNode', params: { key: 'x' } })).output).toMatchObject({ result: { seq: 1 } });
    expect(s.namespaces.get('team').store.graph.order).toBe(1);
    // A per-agent namespace is outside what this token may name: the service refuses it.
    const own = await sandbox.load(requireBuilt(fixturePath('graph-call')), { graph: true });
    expect((await own.run({ method: 'nodes' })).output).toMatchObject({ error: { code: 'GRAPH_UNAUTHORIZED' } });
  });

  it('refuses, for agents, a service that predates namespaces (it would put every agent in one graph)', async () => {
    const path = join(dir, `old${n++}.sock`);
    // A stand-in for an old service: it ignores `ns` and does not know dropNamespace.
    const old = createServer((sock) => {
      const decoder = new FrameDecoder();
      sock.on('data', (chunk: Buffer) => {
        for (const f of decoder.push(chunk)) {
          if (f.kind !== 'frame') continue;
          const m = decode(f.body) as { id: number; method: string };
          sock.write(
            encodeFrame(
              m.method === 'dropNamespace'
                ? { id: m.id, error: { code: 'GRAPH_UNKNOWN_METHOD', message: 'unknown' } }
                : { id: m.id, result: { pong: true } },
            ),
          );
        }
      });
    });
    await new Promise<void>((r) => old.listen(path, r));
    cleanup.push(() => new Promise((r) => old.close(r)));
    const sandbox = new Sandbox({ workers: 1, graph: `unix://${path}` });
    cleanup.push(() => sandbox.close());
    const agent = await sandbox.load(requireBuilt(fixturePath('graph-call')), { graph: true });
    const r = await agent.run({ method: 'ping' });
    const { error } = r.output as { error?: { code: string; message: string } };
    expect(error?.code).toBe('GRAPH_UNAVAILABLE');
    expect(error?.message).toMatch(/namespaces/);
  });

  it('gives each agent of a Sandbox on a shared service its own namespace there, dropped when it closes', async () => {
    const s = await server();
    const sandbox = new Sandbox({ workers: 1, graph: s.url });
    cleanup.push(() => sandbox.close());
    const a = await sandbox.load(requireBuilt(fixturePath('graph-call')), { graph: true });
    const b = await sandbox.load(requireBuilt(fixturePath('graph-call')), { graph: true });
    const ra = await a.run({ method: 'addNode', params: { key: 'a-only' } });
    expect(ra.status, ra.message).toBe('ok');
    expect((await b.run({ method: 'nodes' })).output).toEqual({ result: [] });
    expect(s.store.graph.order).toBe(0); // not in the default namespace either
    expect(s.namespaces.size).toBe(3);
    a.close();
    for (let i = 0; i < 50 && s.namespaces.size > 2; i++) await new Promise((r) => setTimeout(r, 20));
    expect(s.namespaces.size).toBe(2);
  });
});

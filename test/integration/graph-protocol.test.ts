// Graph service over real sockets: hostile frames, slow and vanishing clients, tokens, fallback, reconnects.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isSandboxError } from '../../runtime/errors.ts';
import { GraphClient } from '../../runtime/graph/client.ts';
import { isGraphError } from '../../runtime/graph/errors.ts';
import { decode, encode, encodeFrame, FrameDecoder } from '../../runtime/graph/protocol.ts';
import { GraphServer } from '../../runtime/graph/server.ts';

let dir: string;
const cleanup: (() => Promise<unknown> | unknown)[] = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'graph-proto-'));
});
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const sockPath = () => join(dir, `g${n++}.sock`);

async function server(opts: Partial<Parameters<typeof GraphServer.listen>[0]> = {}): Promise<GraphServer> {
  const s = await GraphServer.listen(opts.port !== undefined ? opts : { socket: sockPath(), ...opts });
  cleanup.push(() => s.close());
  return s;
}
async function client(url: string, opts: Parameters<typeof GraphClient.connect>[1] = {}): Promise<GraphClient> {
  const c = await GraphClient.connect(url, { env: {}, ...opts });
  cleanup.push(() => c.close());
  return c;
}

/** A bare socket speaking the frame format by hand. */
class Raw {
  private readonly decoder = new FrameDecoder();
  private readonly frames: unknown[] = [];
  private waiters: (() => void)[] = [];
  closed = false;
  constructor(readonly sock: Socket) {
    sock.on('data', (c: Buffer) => {
      for (const f of this.decoder.push(c)) if (f.kind === 'frame') this.frames.push(decode(f.body));
      this.waiters.splice(0).forEach((w) => w());
    });
    sock.on('close', () => {
      this.closed = true;
      this.waiters.splice(0).forEach((w) => w());
    });
    sock.on('error', () => {});
  }
  static async open(path: string | { port: number }): Promise<Raw> {
    const sock = typeof path === 'string' ? createConnection(path) : createConnection(path.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const raw = new Raw(sock);
    cleanup.push(() => sock.destroy());
    return raw;
  }
  write(buf: Buffer | Uint8Array): void {
    this.sock.write(buf);
  }
  async next(timeoutMs = 2000): Promise<Record<string, unknown>> {
    const end = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.closed) throw new Error('closed');
      if (Date.now() > end) throw new Error('no frame');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return this.frames.shift() as Record<string, unknown>;
  }
  async waitClosed(timeoutMs = 2000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    return this.closed;
  }
}

function rawBody(body: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(body.length);
  return Buffer.concat([h, body]);
}

const socketOf = (s: GraphServer) => s.url.slice('unix://'.length);

describe('graph service over a Unix socket', () => {
  it('creates the socket with mode 0600 and answers requests', async () => {
    const s = await server();
    expect(statSync(socketOf(s)).mode & 0o777).toBe(0o600);
    const c = await client(s.url);
    expect(c.mode).toBe('remote');
    await c.addNode('a', { type: 'task' });
    await c.addNode('b');
    await c.addEdge('a', 'b');
    expect(await c.topologicalSort()).toEqual(['a', 'b']);
    expect(await c.request('getNode', { key: 'a' })).toEqual({ key: 'a', attributes: { type: 'task' } });
    await c.addEdge('b', 'a');
    const err = await c.topologicalSort().catch((e: unknown) => e);
    expect(isGraphError(err, 'GRAPH_CYCLE')).toBe(true);
    expect((err as { data: { cycle: string[] } }).data.cycle.sort()).toEqual(['a', 'b']);
    expect(await c.shortestPath('a', 'zz').catch((e: unknown) => (e as { code: string }).code)).toBe(
      'GRAPH_NODE_NOT_FOUND',
    );
  });

  it('answers malformed frames, non-map requests and unknown methods, and keeps the connection', async () => {
    const s = await server();
    const raw = await Raw.open(socketOf(s));
    raw.write(rawBody(Buffer.from([0xc1]))); // 0xc1 is never valid MessagePack
    expect(await raw.next()).toMatchObject({ id: null, error: { code: 'GRAPH_BAD_FRAME' } });
    raw.write(rawBody(encode(42)));
    expect(await raw.next()).toMatchObject({ id: null, error: { code: 'GRAPH_BAD_FRAME' } });
    raw.write(encodeFrame({ id: 7, method: 42 }));
    expect(await raw.next()).toMatchObject({ id: 7, error: { code: 'GRAPH_BAD_FRAME' } });
    raw.write(encodeFrame({ id: 8, method: 'launchMissiles', params: {} }));
    expect(await raw.next()).toMatchObject({ id: 8, error: { code: 'GRAPH_UNKNOWN_METHOD' } });
    raw.write(encodeFrame({ id: 9, method: 'toString' }));
    expect(await raw.next()).toMatchObject({ id: 9, error: { code: 'GRAPH_UNKNOWN_METHOD' } });
    raw.write(encodeFrame({ id: 10, method: 'addNode', params: { key: 5 } }));
    expect(await raw.next()).toMatchObject({ id: 10, error: { code: 'GRAPH_INVALID_ARGUMENT' } });
    raw.write(encodeFrame({ id: 'str-id', method: 'ping' }));
    expect(await raw.next()).toMatchObject({ id: 'str-id', result: { pong: true } });
    expect(raw.closed).toBe(false);
  });

  it('closes a connection that announces an oversized frame, and serves the others', async () => {
    const s = await server({ maxFrameBytes: 1024 });
    const other = await client(s.url);
    const raw = await Raw.open(socketOf(s));
    const header = Buffer.alloc(4);
    header.writeUInt32BE(0xffffffff);
    raw.write(header);
    expect(await raw.next()).toMatchObject({ id: null, error: { code: 'GRAPH_FRAME_TOO_LARGE' } });
    expect(await raw.waitClosed()).toBe(true);
    expect(await other.request('ping')).toMatchObject({ pong: true });
    // The client refuses to send what the service would refuse only at the service; a big request gets the error too.
    const big = await Raw.open(socketOf(s));
    big.write(encodeFrame({ id: 1, method: 'addNode', params: { key: 'k', attributes: { blob: 'x'.repeat(4096) } } }));
    expect(await big.next()).toMatchObject({ error: { code: 'GRAPH_FRAME_TOO_LARGE' } });
    expect(await other.request('stats')).toMatchObject({ nodes: 0 });
  });

  it('answers a reply that would exceed the frame limit with an error instead', async () => {
    const s = await server({ maxFrameBytes: 2048 });
    const c = await client(s.url);
    for (let b = 0; b < 10; b++)
      await c.apply(Array.from({ length: 20 }, (_, i) => ({ op: 'addNode' as const, key: `node-${b}-${i}` })));
    const err = await c.export().catch((e: unknown) => e);
    expect(isGraphError(err, 'GRAPH_FRAME_TOO_LARGE')).toBe(true);
    expect(await c.request('stats')).toMatchObject({ nodes: 200 });
  });

  it('keeps serving while one client never reads its replies and another stalls mid-frame', async () => {
    const s = await server({ maxBufferedBytes: 64 * 1024 });
    const slow = await Raw.open(socketOf(s));
    slow.sock.pause(); // never reads
    const burst = Buffer.concat(Array.from({ length: 20_000 }, (_, i) => encodeFrame({ id: i, method: 'stats' })));
    slow.write(burst);
    const stall = await Raw.open(socketOf(s));
    stall.write(Buffer.from([0, 0, 0, 50, 0x81])); // header promises 50 bytes, 1 arrives
    const good = await client(s.url);
    const t0 = Date.now();
    for (let i = 0; i < 50; i++) await good.request('ping');
    expect(Date.now() - t0).toBeLessThan(2000);
    // The slow one is still connected and gets its replies once it reads.
    slow.sock.resume();
    let got = 0;
    while (got < 20_000) {
      await slow.next(5000);
      got++;
    }
    expect(got).toBe(20_000);
  });

  it('survives connections that vanish mid-frame or with requests in flight', async () => {
    const s = await server();
    for (let i = 0; i < 5; i++) {
      const raw = await Raw.open(socketOf(s));
      const frame = encodeFrame({ id: 1, method: 'addNode', params: { key: `half${i}` } });
      raw.write(frame.subarray(0, frame.length - 2));
      raw.sock.destroy();
      const busy = await Raw.open(socketOf(s));
      for (let j = 0; j < 100; j++)
        busy.write(encodeFrame({ id: j, method: 'addNode', params: { key: `n${i}-${j}` } }));
      busy.sock.destroy();
    }
    const c = await client(s.url);
    expect(await c.request('ping')).toMatchObject({ pong: true });
    expect(await c.request('hasNode', { key: 'half0' })).toBe(false);
  });

  it('matches replies to requests by id with many in flight, in any order', async () => {
    const s = await server();
    const c = await client(s.url);
    await c.apply(Array.from({ length: 100 }, (_, i) => ({ op: 'addNode' as const, key: `k${i}` })));
    const reqs: Promise<unknown>[] = [];
    // parseFile is asynchronous on the service, so its reply comes after the pings sent behind it.
    reqs.push(c.request('parseFile', { path: 'x.py', source: 'def f():\n  g()\n' }));
    for (let i = 0; i < 2000; i++) reqs.push(c.request('hasNode', { key: `k${i % 150}` }));
    const out = await Promise.all(reqs);
    expect((out[0] as { graph: { nodes: unknown[] } }).graph.nodes.length).toBe(2);
    for (let i = 0; i < 2000; i++) expect(out[i + 1]).toBe(i % 150 < 100);
  });

  it('times out a request the service never answers, and ignores the late reply', async () => {
    const path = sockPath();
    const mute = createServer((sock) => sock.on('data', () => {}));
    await new Promise<void>((r) => mute.listen(path, r));
    cleanup.push(() => new Promise((r) => mute.close(r)));
    const c = await client(`unix://${path}`, { timeoutMs: 100 });
    const err = await c.request('ping').catch((e: unknown) => e);
    expect(isSandboxError(err, 'SANDBOX_TIMEOUT')).toBe(true);
    expect(c.inFlight).toBe(0);
  });

  it('gives up on slow asynchronous methods at the per-request timeout', async () => {
    const s = await server({ requestTimeoutMs: 1 });
    const c = await client(s.url);
    const err = await c.request('parseRepository', { root: process.cwd() }).catch((e: unknown) => e);
    expect(isGraphError(err, 'GRAPH_TIMEOUT')).toBe(true);
    expect(await c.request('ping')).toMatchObject({ pong: true });
  });

  it('publishes each request on the sandbox:graph:request diagnostics channel', async () => {
    const { subscribe, unsubscribe } = await import('node:diagnostics_channel');
    const seen: { method: string; ok: boolean; code?: string }[] = [];
    const fn = (m: unknown) => seen.push(m as (typeof seen)[number]);
    subscribe('sandbox:graph:request', fn);
    try {
      const s = await server();
      const c = await client(s.url);
      await c.request('ping');
      await c.request('getNode', { key: 5 }).catch(() => {});
      await c.request('parseFile', { path: 'a.py', source: 'x = 1' });
    } finally {
      unsubscribe('sandbox:graph:request', fn);
    }
    expect(seen.map((e) => [e.method, e.ok, e.code])).toEqual([
      ['ping', true, undefined],
      ['getNode', false, 'GRAPH_INVALID_ARGUMENT'],
      ['parseFile', true, undefined],
    ]);
  });

  it('can refuse parsing requests', async () => {
    const s = await server({ allowParsing: false });
    const c = await client(s.url);
    const err = await c.request('parseRepository', { root: '/' }).catch((e: unknown) => e);
    expect(isGraphError(err, 'GRAPH_UNKNOWN_METHOD')).toBe(true);
  });

  it('pushes ledger events to subscribers', async () => {
    const s = await server();
    const a = await client(s.url);
    const b = await client(s.url);
    const seen: number[] = [];
    const off = await a.subscribe((tx) => seen.push(tx.seq));
    await b.addNode('x');
    await b.addNode('y');
    await a.request('ping');
    expect(seen).toEqual([1, 2]);
    await off();
    await b.addNode('z');
    await a.request('ping');
    expect(seen).toEqual([1, 2]);
  });
});

describe('graph service over TCP', () => {
  it('requires a token to start and to talk', async () => {
    await expect(GraphServer.listen({ port: 0 })).rejects.toMatchObject({ code: 'SANDBOX_INVALID_OPTIONS' });
    const s = await server({ port: 0, token: 'sesame' });
    expect(s.url).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    const good = await client(s.url, { token: 'sesame' });
    await good.addNode('a');
    expect(await good.request('stats')).toMatchObject({ nodes: 1 });

    const err = await GraphClient.connect(s.url, { token: 'wrong', env: {} }).catch((e: unknown) => e);
    expect(isGraphError(err, 'GRAPH_UNAUTHORIZED')).toBe(true);

    const port = Number(s.url.split(':').pop());
    const raw = await Raw.open({ port });
    raw.write(encodeFrame({ id: 1, method: 'export' }));
    expect(await raw.next()).toMatchObject({ id: 1, error: { code: 'GRAPH_UNAUTHORIZED' } });
    expect(await raw.waitClosed()).toBe(true);
    expect(await good.request('stats')).toMatchObject({ nodes: 1 });
  });
});

describe('GraphClient connection handling', () => {
  it('fails clearly when the service is unreachable', async () => {
    const url = `unix://${join(dir, 'nobody.sock')}`;
    const err = await GraphClient.connect(url, { env: {}, connectTimeoutMs: 100 }).catch((e: unknown) => e);
    expect(isSandboxError(err, 'SANDBOX_CONNECTION')).toBe(true);
    expect((err as Error).message).toMatch(/nobody\.sock/);
    expect((err as Error).message).toMatch(/GRAPH_COMPUTE_FALLBACK=embedded/);
    await expect(GraphClient.connect('http://x', { env: {} })).rejects.toMatchObject({
      code: 'SANDBOX_INVALID_OPTIONS',
    });
  });

  it('falls back to the embedded engine when asked, and says so', async () => {
    const url = `unix://${join(dir, 'nobody.sock')}`;
    const lines: string[] = [];
    const c = await client(url, {
      env: { GRAPH_COMPUTE_FALLBACK: 'embedded' },
      connectTimeoutMs: 50,
      log: (l) => lines.push(l),
    });
    expect(c.mode).toBe('embedded');
    expect(c.fallbackReason).toMatch(/in-process/);
    expect(lines.length).toBe(1);
    const fallbackEvent = await new Promise((r) => c.once('fallback', r));
    expect(fallbackEvent).toBe(c.fallbackReason);
    await c.addNode('a');
    await c.addNode('b');
    await c.addEdge('a', 'b');
    expect(await c.topologicalSort()).toEqual(['a', 'b']);
    expect(await c.request('nope').catch((e: unknown) => (e as { code: string }).code)).toBe('GRAPH_UNKNOWN_METHOD');
    const opt = await client(url, { fallback: 'embedded', connectTimeoutMs: 50, log: () => {} });
    expect(opt.mode).toBe('embedded');
  });

  it('reconnects when the service restarts on the same socket', async () => {
    const path = sockPath();
    const ledgerFile = join(dir, `reconnect-${n}.ledger`);
    let s = await GraphServer.listen({ socket: path, ledgerFile });
    const c = await client(`unix://${path}`, { connectTimeoutMs: 3000 });
    await c.addNode('before');
    const disconnected = new Promise((r) => c.once('disconnect', r));
    await s.close();
    await disconnected;
    const reconnected = new Promise((r) => c.once('reconnect', r));
    setTimeout(() => {
      void GraphServer.listen({ socket: path, ledgerFile }).then((next) => {
        s = next;
        cleanup.push(() => next.close());
      });
    }, 100);
    await c.addNode('after');
    await reconnected;
    expect((await c.export()).nodes.map((x) => x.key)).toEqual(['before', 'after']);
  });
});

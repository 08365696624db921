// GraphClient: talks to the graph service over unix:// or tcp://, reconnects, or runs the engine in-process on request.
import { EventEmitter } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { SandboxError } from '../errors.ts';
import { dispatch } from './dispatch.ts';
import { GraphError } from './errors.ts';
import type { Attributes, Direction, GraphJSON } from './graph.ts';
import { GraphStore, type GraphStoreOptions, type LedgerSlice, type Transaction } from './ledger.ts';
import type { MethodContext } from './methods.ts';
import { DEFAULT_NAMESPACE, GraphNamespaces, checkNamespace } from './namespaces.ts';
import type { GraphOp } from './ops.ts';
import {
  DEFAULT_MAX_FRAME_BYTES,
  FrameDecoder,
  decode,
  encode,
  encodeFrame,
  fromWireError,
  type RequestId,
} from './protocol.ts';
import type { ShortestPath } from './shortest-path.ts';
import type { SubgraphMatchOptions, SubgraphMatchResult } from './vf2.ts';

export interface GraphClientOptions {
  /** Token for a TCP service (sent as the first request, `auth {token}`). */
  token?: string;
  /** Per-request timeout; a late reply is dropped. Default 30 s. */
  timeoutMs?: number;
  /** How long connect (and each reconnect) keeps trying before giving up. Default 2 s. */
  connectTimeoutMs?: number;
  /** 'embedded' runs the engine in-process when the service is unreachable at connect time. */
  fallback?: 'embedded' | 'none';
  /** Where GRAPH_COMPUTE_FALLBACK is read (default process.env). */
  env?: Record<string, string | undefined>;
  /** Options for the in-process store when falling back (e.g. its own ledger file). */
  embedded?: GraphStoreOptions;
  maxFrameBytes?: number;
  /** Told when the client falls back to the embedded engine (default: a process warning). */
  log?: (line: string) => void;
}

type Endpoint = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export function parseGraphUrl(url: string): Endpoint {
  if (url.startsWith('unix://')) {
    const path = url.slice('unix://'.length);
    if (path === '') throw new SandboxError('SANDBOX_INVALID_OPTIONS', `graph URL '${url}' has no socket path`);
    return { kind: 'unix', path };
  }
  const m = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(url);
  if (m) return { kind: 'tcp', host: (m[1] as string).replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  throw new SandboxError('SANDBOX_INVALID_OPTIONS', `graph URL must be unix:///path or tcp://host:port, got '${url}'`);
}

/** Per-request choices: the namespace it acts on, and a deadline shorter than the client's timeout. */
export interface RequestOptions {
  /** Default 'default', the namespace of requests that name none. */
  namespace?: string;
  /** At most the client's `timeoutMs`; the service is asked to stop by then too. */
  timeoutMs?: number;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  deadline: number;
  method: string;
}

/**
 * Events: 'disconnect' (error), 'reconnect', 'ledger' (Transaction, after subscribe()), 'fallback' (reason).
 * `mode` says whether requests go to the service ('remote') or to the in-process engine ('embedded').
 */
export class GraphClient extends EventEmitter {
  readonly url: string;
  readonly mode: 'remote' | 'embedded';
  /** Why the client runs embedded (undefined when remote). */
  readonly fallbackReason: string | undefined;

  private socket: Socket | undefined;
  private connecting: Promise<Socket> | undefined;
  private readonly pending = new Map<RequestId, Pending>();
  private nextId = 1;
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;
  private subscribed = false;
  private corked = false;
  private readonly endpoint: Endpoint | undefined;
  private readonly options: GraphClientOptions;
  private readonly timeoutMs: number;
  // embedded mode
  private readonly store: GraphStore | undefined;
  private readonly namespaces: GraphNamespaces | undefined;
  private readonly ctx: MethodContext | undefined;

  private constructor(
    url: string,
    options: GraphClientOptions,
    endpoint: Endpoint | undefined,
    fallbackReason?: string,
  ) {
    super();
    this.url = url;
    this.options = options;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.endpoint = endpoint;
    this.mode = fallbackReason === undefined ? 'remote' : 'embedded';
    this.fallbackReason = fallbackReason;
    if (fallbackReason !== undefined) {
      this.store = new GraphStore(options.embedded ?? {});
      this.namespaces = new GraphNamespaces(this.store);
      this.ctx = { deadline: 0, push: (event, data) => this.emit(event, data), state: {} };
    }
  }

  /**
   * Connects to `unix:///path` or `tcp://host:port`. If the service cannot be reached: with fallback
   * 'embedded' (option, or GRAPH_COMPUTE_FALLBACK=embedded) the client runs the engine in-process and says so;
   * otherwise it fails with SandboxError SANDBOX_CONNECTION.
   */
  static async connect(url: string, options: GraphClientOptions = {}): Promise<GraphClient> {
    const endpoint = parseGraphUrl(url);
    const env = options.env ?? process.env;
    const fallback = options.fallback ?? (env['GRAPH_COMPUTE_FALLBACK'] === 'embedded' ? 'embedded' : 'none');
    const client = new GraphClient(url, options, endpoint);
    try {
      await client.ensureSocket();
      return client;
    } catch (err) {
      await client.close();
      if (fallback !== 'embedded' || !(err instanceof SandboxError && err.code === 'SANDBOX_CONNECTION')) throw err;
      const reason = `graph service at ${url} unreachable (${(err as Error).message}); running the graph engine in-process (GRAPH_COMPUTE_FALLBACK=embedded)`;
      const embedded = new GraphClient(url, options, undefined, reason);
      if (options.log) options.log(reason);
      else process.emitWarning(reason, { code: 'GRAPH_EMBEDDED_FALLBACK' });
      setImmediate(() => embedded.emit('fallback', reason));
      return embedded;
    }
  }

  /** An in-process client with no service at all (same methods, same results). */
  static embedded(options: GraphClientOptions = {}): GraphClient {
    return new GraphClient('embedded:', options, undefined, 'embedded client requested');
  }

  /** Requests in flight. */
  get inFlight(): number {
    return this.pending.size;
  }

  private connectOnce(): Promise<Socket> {
    const ep = this.endpoint as Endpoint;
    return new Promise<Socket>((resolve, reject) => {
      const sock = ep.kind === 'unix' ? netConnect(ep.path) : netConnect(ep.port, ep.host);
      const fail = (err: Error) => {
        sock.destroy();
        reject(err);
      };
      sock.once('error', fail);
      sock.once('connect', () => {
        sock.off('error', fail);
        sock.setNoDelay(true);
        resolve(sock);
      });
    });
  }

  /** Connects (retrying until connectTimeoutMs) and authenticates, once at a time. */
  private ensureSocket(): Promise<Socket> {
    if (this.socket !== undefined) return Promise.resolve(this.socket);
    if (this.closed) return Promise.reject(new SandboxError('SANDBOX_CLOSED', 'the graph client is closed'));
    this.connecting ??= (async () => {
      const limit = Date.now() + (this.options.connectTimeoutMs ?? 2_000);
      let delay = 20;
      let lastError: Error | undefined;
      for (;;) {
        try {
          const sock = await this.connectOnce();
          this.attach(sock);
          if (this.options.token !== undefined) await this.send('auth', { token: this.options.token }, sock);
          if (this.subscribed) await this.send('subscribe', {}, sock);
          return sock;
        } catch (err) {
          lastError = err as Error;
          if (err instanceof GraphError) throw err; // refused by the service (e.g. a wrong token): retrying cannot help
          if (Date.now() + delay > limit || this.closed) break;
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(delay * 2, 250);
        }
      }
      const where = this.endpoint?.kind === 'unix' ? `Unix socket ${this.endpoint.path}` : this.url;
      throw new SandboxError(
        'SANDBOX_CONNECTION',
        `cannot reach the graph service at ${where}: ${lastError?.message ?? 'unknown error'}. Start it with 'sandbox graph serve', or set GRAPH_COMPUTE_FALLBACK=embedded to run the engine in-process`,
        { cause: lastError },
      );
    })().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private attach(sock: Socket): void {
    const decoder = new FrameDecoder(this.options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    const wasConnected = this.everConnected;
    this.everConnected = true;
    this.socket = sock;
    sock.on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) {
        if (f.kind === 'too-large') {
          this.drop(
            sock,
            new SandboxError('SANDBOX_PROTOCOL', `graph service sent a ${f.length}-byte frame, over the limit`),
          );
          return;
        }
        let msg: { id?: RequestId | null; result?: unknown; error?: unknown; event?: string; data?: unknown };
        try {
          msg = decode(f.body) as typeof msg;
        } catch {
          this.drop(sock, new SandboxError('SANDBOX_PROTOCOL', 'graph service sent a frame that is not MessagePack'));
          return;
        }
        if (typeof msg?.event === 'string') {
          this.emit(msg.event, msg.data);
          continue;
        }
        const p = msg?.id === undefined || msg.id === null ? undefined : this.pending.get(msg.id);
        if (p === undefined) {
          if (msg?.id === null && msg.error !== undefined) this.emit('protocolError', fromWireError(msg.error));
          continue; // a reply to a request that already timed out
        }
        this.pending.delete(msg.id as RequestId);
        if (msg.error !== undefined) p.reject(fromWireError(msg.error));
        else p.resolve(msg.result);
      }
    });
    sock.on('error', () => {});
    sock.on('close', () =>
      this.drop(
        sock,
        new SandboxError('SANDBOX_CONNECTION', `connection to the graph service at ${this.url} was lost`),
      ),
    );
    if (wasConnected) queueMicrotask(() => this.emit('reconnect'));
    this.sweeper ??= setInterval(() => this.sweep(), Math.max(5, Math.min(250, this.timeoutMs / 4))).unref();
  }

  private everConnected = false;

  /** Fails everything in flight on a dead connection; the next request reconnects. */
  private drop(sock: Socket, err: SandboxError): void {
    if (this.socket !== sock) return;
    this.socket = undefined;
    sock.destroy();
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(
        new SandboxError(
          err.code,
          `${err.message} while '${p.method}' was in flight (it may or may not have been applied)`,
        ),
      );
    }
    this.emit('disconnect', err);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, p] of this.pending) {
      if (p.deadline <= now) {
        this.pending.delete(id);
        p.reject(
          new SandboxError('SANDBOX_TIMEOUT', `graph request '${p.method}' got no reply within ${this.timeoutMs} ms`),
        );
      }
    }
  }

  private send(method: string, params: unknown, sock: Socket, options: RequestOptions = {}): Promise<unknown> {
    const id = this.nextId;
    this.nextId = this.nextId >= 0x7fffffff ? 1 : this.nextId + 1;
    const timeoutMs = this.timeoutOf(options);
    const message: Record<string, unknown> = { id, method, params };
    if (options.namespace !== undefined && options.namespace !== DEFAULT_NAMESPACE) message.ns = options.namespace;
    if (timeoutMs < this.timeoutMs) message.timeoutMs = timeoutMs;
    const frame = encodeFrame(message);
    return new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, deadline: Date.now() + timeoutMs, method });
      // Requests issued in the same tick go out in one write.
      if (!this.corked) {
        this.corked = true;
        sock.cork();
        process.nextTick(() => {
          this.corked = false;
          sock.uncork();
        });
      }
      sock.write(frame);
    });
  }

  /** The request's deadline: its own when shorter than the client's, never longer. */
  private timeoutOf(options: RequestOptions): number {
    const t = options.timeoutMs;
    return typeof t === 'number' && t > 0 ? Math.min(t, this.timeoutMs) : this.timeoutMs;
  }

  /** Sends one request and resolves with its result (GraphError for a service-side failure). */
  async request<T = unknown>(
    method: string,
    params: Record<string, unknown> = {},
    options: RequestOptions = {},
  ): Promise<T> {
    if (options.namespace !== undefined) checkNamespace(options.namespace);
    if (this.namespaces !== undefined) return this.local(method, params, options) as T;
    if (this.closed) throw new SandboxError('SANDBOX_CLOSED', 'the graph client is closed');
    const sock = this.socket ?? (await this.ensureSocket());
    return (await this.send(method, params, sock, options)) as T;
  }

  /** Forgets a namespace and its data on the service (the default one is only cleared). */
  async dropNamespace(namespace: string): Promise<boolean> {
    if (this.namespaces !== undefined) return this.namespaces.drop(checkNamespace(namespace));
    return (await this.request<{ dropped: boolean }>('dropNamespace', {}, { namespace })).dropped;
  }

  /** The embedded path: same method table and the same MessagePack round trip, so results match the service. */
  private local(method: string, params: Record<string, unknown>, options: RequestOptions): Promise<unknown> {
    if (this.closed) return Promise.reject(new SandboxError('SANDBOX_CLOSED', 'the graph client is closed'));
    const ctx = this.ctx as MethodContext;
    const timeoutMs = this.timeoutOf(options);
    ctx.deadline = Date.now() + timeoutMs;
    let methods;
    try {
      methods = (this.namespaces as GraphNamespaces).get(options.namespace ?? DEFAULT_NAMESPACE).methods;
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const reply = dispatch(methods, decode(encode({ id: 0, method, params })), ctx, timeoutMs);
    return Promise.resolve(reply).then((r) => {
      const msg = decode(encode(r)) as { result?: unknown; error?: unknown };
      if (msg.error !== undefined) throw fromWireError(msg.error);
      return msg.result;
    });
  }

  // ---- typed helpers over request() ----

  apply(ops: GraphOp[]): Promise<{ seq: number }> {
    return this.request('apply', { ops });
  }
  addNode(key: string, attributes?: Attributes): Promise<{ seq: number }> {
    return this.request('addNode', { key, attributes });
  }
  removeNode(key: string): Promise<{ seq: number }> {
    return this.request('removeNode', { key });
  }
  addEdge(source: string, target: string, attributes?: Attributes): Promise<{ seq: number }> {
    return this.request('addEdge', { source, target, attributes });
  }
  removeEdge(source: string, target: string): Promise<{ seq: number }> {
    return this.request('removeEdge', { source, target });
  }
  neighbors(key: string, direction: Direction = 'both'): Promise<string[]> {
    return this.request('neighbors', { key, direction });
  }
  async topologicalSort(): Promise<string[]> {
    return (await this.request<{ order: string[] }>('topologicalSort')).order;
  }
  async findCycle(): Promise<string[] | null> {
    return (await this.request<{ cycle: string[] | null }>('findCycle')).cycle;
  }
  shortestPath(source: string, target: string, weight?: string): Promise<ShortestPath> {
    return this.request('shortestPath', { source, target, weight });
  }
  subgraphMatch(
    pattern: GraphJSON,
    options: Omit<SubgraphMatchOptions, 'deadline'> = {},
  ): Promise<SubgraphMatchResult> {
    return this.request('subgraphMatch', { pattern, ...options });
  }
  export(): Promise<GraphJSON> {
    return this.request('export');
  }
  getLedger(sinceSeq = 0): Promise<LedgerSlice> {
    return this.request('getLedger', { sinceSeq });
  }

  /** Calls `listener` with every committed transaction; re-subscribes after a reconnect. Returns an unsubscribe. */
  async subscribe(listener: (tx: Transaction) => void): Promise<() => Promise<void>> {
    this.on('ledger', listener);
    this.subscribed = true;
    await this.request('subscribe');
    return async () => {
      this.off('ledger', listener);
      if (this.listenerCount('ledger') === 0) {
        this.subscribed = false;
        await this.request('unsubscribe');
      }
    };
  }

  /** Closes the connection (or the embedded store); requests in flight fail with SANDBOX_CLOSED. */
  async close(): Promise<void> {
    if (this.closed && this.socket === undefined && this.store === undefined) return;
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    const sock = this.socket;
    this.socket = undefined;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new SandboxError('SANDBOX_CLOSED', `the graph client was closed while '${p.method}' was in flight`));
    }
    this.ctx?.state.unsubscribe?.();
    this.namespaces?.close();
    this.store?.close();
    if (sock !== undefined) {
      await new Promise<void>((resolve) => {
        sock.once('close', () => resolve());
        sock.end();
        setTimeout(() => sock.destroy(), 200).unref();
      });
    }
  }
}

// The graph service: accepts framed MessagePack requests on a Unix socket (mode 0600) or 127.0.0.1 TCP with a token.
import { timingSafeEqual, createHash } from 'node:crypto';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { isMainThread } from 'node:worker_threads';
import { SandboxError } from '../errors.ts';
import { dispatch } from './dispatch.ts';
import { GraphError } from './errors.ts';
import { GraphStore, type GraphStoreOptions } from './ledger.ts';
import type { MethodContext } from './methods.ts';
import { DEFAULT_NAMESPACE, GraphNamespaces, checkNamespace } from './namespaces.ts';
import {
  DEFAULT_MAX_FRAME_BYTES,
  FrameDecoder,
  decode,
  encodeFrame,
  toWireError,
  type RequestId,
  type ResponseMessage,
} from './protocol.ts';

export interface GraphServerOptions {
  /** Listen on this Unix socket path (created with mode 0600). */
  socket?: string;
  /** Listen on 127.0.0.1:port (0 picks a free port); requires `token`. */
  port?: number;
  /** Shared secret: required for TCP, optional for a Unix socket. The first request must be `auth {token}`. */
  token?: string;
  /** Serve this store; otherwise one is created from `ledgerFile`/`fsync`. */
  store?: GraphStore;
  ledgerFile?: string;
  fsync?: boolean;
  maxFrameBytes?: number;
  /** Per-request limit for asynchronous methods and the deadline handed to long synchronous ones. Default 30 s. */
  requestTimeoutMs?: number;
  /** A connection whose unsent replies exceed this stops being read until it drains. Default 8 MiB. */
  maxBufferedBytes?: number;
  /** Let clients parse files on this machine (parseFile/parseRepository). Default true. */
  allowParsing?: boolean;
  /**
   * Clients confined to some namespaces: one authenticating with such a token may only name those (and never
   * parse files); `token` itself reaches every namespace.
   */
  clients?: { token: string; namespaces: string[] }[];
  /** Largest frame accepted before `auth` succeeds (an unauthenticated client must not make the service buffer much). Default 4096. */
  preAuthFrameBytes?: number;
  /** A connection that has not authenticated this long after connecting is closed. Default 5000 ms. */
  authTimeoutMs?: number;
  /** Connections held at once; one past it is closed at once. Default 256. */
  maxConnections?: number;
  /** Asynchronous requests (parsing) one connection may have running; past it the service stops reading it. Default 16. */
  maxInFlight?: number;
  /** Upper bound of subgraphMatch's `maxSteps`, whatever a request says. Default 10,000,000. */
  maxSteps?: number;
  /** Upper bound of subgraphMatch's `limit` (matches held at once), whatever a request says. Default 100,000. */
  maxMatches?: number;
  /** Namespaces held at once. Default 10,000. */
  maxNamespaces?: number;
  /** Nodes plus edges per namespace; past it, requests that add more get GRAPH_NAMESPACE_FULL. Default: no cap. */
  maxNamespaceElements?: number;
  /** Diagnostic lines (connection errors, protocol violations). */
  log?: (line: string) => void;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** A token the service accepts, and the namespaces its holder may name (null: every one). */
interface TokenScope {
  digest: Buffer;
  namespaces: Set<string> | null;
}

export class GraphServer {
  /** `unix:///path` or `tcp://127.0.0.1:port`, ready for GraphClient.connect. */
  readonly url: string;
  /** The default namespace's store. */
  readonly store: GraphStore;
  /** Every namespace's store; requests name theirs with `ns`. */
  readonly namespaces: GraphNamespaces;
  private readonly sockets = new Set<Socket>();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    url: string,
    store: GraphStore,
    private readonly ownsStore: boolean,
    private readonly socketPath: string | undefined,
    namespaces: GraphNamespaces,
  ) {
    this.url = url;
    this.store = store;
    this.namespaces = namespaces;
  }

  get connections(): number {
    return this.sockets.size;
  }

  static async listen(options: GraphServerOptions): Promise<GraphServer> {
    const { socket: socketPath, port } = options;
    if ((socketPath === undefined) === (port === undefined)) {
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        'the graph service needs exactly one of `socket` (a Unix socket path) or `port`',
      );
    }
    if (
      port !== undefined &&
      (options.token === undefined || options.token === '') &&
      (options.clients ?? []).length === 0
    ) {
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        'a TCP graph service requires a token (option `token`, or SANDBOX_GRAPH_TOKEN for the CLI)',
      );
    }
    if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
      throw new SandboxError('SANDBOX_INVALID_OPTIONS', `invalid port ${port}`);
    }
    for (const key of [
      'maxConnections',
      'authTimeoutMs',
      'maxInFlight',
      'maxSteps',
      'maxMatches',
      'maxNamespaces',
      'maxNamespaceElements',
      'preAuthFrameBytes',
    ] as const) {
      const v = options[key];
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 1))
        throw new SandboxError('SANDBOX_INVALID_OPTIONS', `${key} must be a positive integer, got ${String(v)}`);
    }
    if ((options.authTimeoutMs ?? 0) > 0x7fffffff)
      throw new SandboxError('SANDBOX_INVALID_OPTIONS', 'authTimeoutMs must be at most 2^31-1');
    const ownsStore = options.store === undefined;
    const storeOptions: GraphStoreOptions = {};
    if (options.ledgerFile !== undefined) storeOptions.ledgerFile = options.ledgerFile;
    if (options.fsync !== undefined) storeOptions.fsync = options.fsync;
    const store = options.store ?? new GraphStore(storeOptions);
    const namespaces = new GraphNamespaces(store, {
      allowParsing: options.allowParsing !== false,
      ...(options.maxSteps === undefined ? {} : { maxSteps: options.maxSteps }),
      ...(options.maxMatches === undefined ? {} : { maxMatches: options.maxMatches }),
      ...(options.maxNamespaces === undefined ? {} : { maxNamespaces: options.maxNamespaces }),
      ...(options.maxNamespaceElements === undefined ? {} : { maxElements: options.maxNamespaceElements }),
    });
    const tokens: TokenScope[] = [];
    if (options.token !== undefined && options.token !== '')
      tokens.push({ digest: digest(options.token), namespaces: null });
    for (const c of options.clients ?? []) {
      if (typeof c?.token !== 'string' || c.token === '' || !Array.isArray(c.namespaces)) {
        throw new SandboxError(
          'SANDBOX_INVALID_OPTIONS',
          'each of `clients` needs a non-empty `token` and a `namespaces` list',
        );
      }
      for (const ns of c.namespaces) checkNamespace(ns);
      tokens.push({ digest: digest(c.token), namespaces: new Set(c.namespaces) });
    }
    const log = options.log ?? (() => {});
    let server!: GraphServer;
    const net = createServer({ noDelay: true }, (sock) => server.accept(sock, namespaces, tokens, options, log));

    try {
      if (socketPath !== undefined) {
        await removeStaleSocket(socketPath);
        await listenPrivately(net, socketPath);
      } else {
        await new Promise<void>((resolve, reject) => {
          net.once('error', reject);
          net.listen(port, '127.0.0.1', () => {
            net.off('error', reject);
            resolve();
          });
        });
      }
    } catch (err) {
      if (ownsStore) store.close();
      throw new SandboxError(
        'SANDBOX_CONNECTION',
        `graph service cannot listen on ${socketPath ?? `127.0.0.1:${port}`}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const addr = net.address();
    const url =
      socketPath !== undefined
        ? `unix://${socketPath}`
        : `tcp://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : port}`;
    server = new GraphServer(net, url, store, ownsStore, socketPath, namespaces);
    return server;
  }

  private accept(
    sock: Socket,
    namespaces: GraphNamespaces,
    tokens: TokenScope[],
    options: GraphServerOptions,
    log: (l: string) => void,
  ): void {
    if (this.closing !== undefined) {
      sock.destroy();
      return;
    }
    if (this.sockets.size >= (options.maxConnections ?? 256)) {
      // Refused before reading a byte: a flood of connections costs the service a file descriptor each, briefly.
      log(`graph: refusing a connection past the limit of ${options.maxConnections ?? 256}`);
      sock.destroy();
      return;
    }
    this.sockets.add(sock);
    sock.setNoDelay?.(true);
    const maxFrame = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    const preAuthFrame = Math.min(options.preAuthFrameBytes ?? 4096, maxFrame);
    const timeoutMs = options.requestTimeoutMs ?? 30_000;
    const maxBuffered = options.maxBufferedBytes ?? 8 * 1024 * 1024;
    const maxInFlight = options.maxInFlight ?? 16;
    // Namespaces this connection may name: null is all of them (the owner's token, or a private Unix socket).
    let scope: Set<string> | null = null;
    let authed = tokens.length === 0;
    const decoder = new FrameDecoder(authed ? maxFrame : preAuthFrame);
    const authTimer = authed
      ? undefined
      : setTimeout(() => {
          log('graph: closing a connection that did not authenticate in time');
          sock.destroy();
        }, options.authTimeoutMs ?? 5000);
    authTimer?.unref();
    let paused = false;
    let inFlight = 0;
    /** Frames decoded while the connection had maxInFlight requests running; read again as they finish. */
    let backlog: Buffer[] = [];
    const ctx: MethodContext = {
      deadline: 0,
      push: (event, data) => send({ event, data } as never),
      state: {},
    };
    const send = (msg: ResponseMessage): void => {
      if (sock.destroyed || !sock.writable) return;
      let frame: Buffer;
      try {
        frame = encodeFrame(msg);
      } catch (err) {
        // A value too deeply nested to encode (stored by a client) must fail its request, not the service.
        frame = encodeFrame({
          id: idOf(msg),
          error: { code: 'GRAPH_INTERNAL', message: `the reply cannot be encoded: ${(err as Error).message}` },
        });
      }
      if (frame.length - 4 > maxFrame) {
        // The client would drop the connection on it; answer that request with an error instead.
        const id = (msg as { id?: unknown }).id;
        frame = encodeFrame({
          id: typeof id === 'number' || typeof id === 'string' ? id : null,
          error: {
            code: 'GRAPH_FRAME_TOO_LARGE',
            message: `the reply is ${frame.length - 4} bytes, over the ${maxFrame}-byte frame limit; ask for less (e.g. subgraph, a lower limit)`,
          },
        });
      }
      sock.write(frame);
      if (!paused && sock.writableLength > maxBuffered) {
        // A client that does not read its replies must not make the service buffer without bound.
        paused = true;
        sock.pause();
      }
    };
    const idOf = (m: unknown): RequestId | null => {
      const id = (m as { id?: unknown } | null)?.id;
      return typeof id === 'number' || typeof id === 'string' ? id : null;
    };
    /** Answers one frame; returns false when the connection is being closed. */
    const handle = (body: Buffer): boolean => {
      let message: unknown;
      try {
        message = decode(body);
      } catch {
        send({ id: null, error: { code: 'GRAPH_BAD_FRAME', message: 'frame body is not valid MessagePack' } });
        if (authed) return true;
        sock.end(); // garbage before auth ends the connection
        return false;
      }
      const m = message as { method?: unknown; params?: { token?: unknown }; ns?: unknown; timeoutMs?: unknown } | null;
      const id = idOf(message);
      if (!authed) {
        const token = m?.method === 'auth' ? m.params?.token : undefined;
        const match =
          typeof token === 'string' ? tokens.find((t) => timingSafeEqual(digest(token), t.digest)) : undefined;
        if (match !== undefined) {
          authed = true;
          scope = match.namespaces;
          clearTimeout(authTimer);
          decoder.setLimit(maxFrame);
          send({ id, result: { ok: true } });
          return true;
        }
        send({
          id,
          error: { code: 'GRAPH_UNAUTHORIZED', message: 'the first request must be auth {token} with the right token' },
        });
        sock.end();
        return false;
      }
      if (m !== null && typeof m === 'object' && m.method === 'auth') {
        send({ id, result: { ok: true } });
        return true;
      }
      let ns: string;
      try {
        ns = m?.ns === undefined || m?.ns === null ? DEFAULT_NAMESPACE : checkNamespace(m.ns);
        if (scope !== null && !scope.has(ns))
          throw new GraphError('GRAPH_UNAUTHORIZED', `this client may not use namespace '${ns}'`);
        if (scope !== null && (m?.method === 'parseFile' || m?.method === 'parseRepository')) {
          throw new GraphError('GRAPH_UNAUTHORIZED', 'this client may not parse files on the service');
        }
        if (m?.method === 'dropNamespace') {
          send({ id, result: { dropped: namespaces.drop(ns) } });
          return true;
        }
      } catch (err) {
        send({ id, error: toWireError(err) });
        return true;
      }
      // A request may shorten its deadline (an agent's remaining run time), never lengthen it.
      const asked = typeof m?.timeoutMs === 'number' && m.timeoutMs > 0 ? m.timeoutMs : timeoutMs;
      const limit = Math.min(asked, timeoutMs);
      let methods;
      try {
        methods = namespaces.get(ns).methods;
      } catch (err) {
        send({ id, error: toWireError(err) });
        return true;
      }
      ctx.deadline = Date.now() + limit;
      const reply = dispatch(methods, message, ctx, limit);
      if (reply instanceof Promise) {
        inFlight++;
        void reply.then((r) => {
          inFlight--;
          send(r);
          drainBacklog();
        });
      } else send(reply);
      return true;
    };
    const drainBacklog = (): void => {
      if (sock.destroyed) return;
      sock.cork();
      try {
        while (backlog.length > 0 && inFlight < maxInFlight) {
          if (!handle(backlog.shift() as Buffer)) return;
        }
      } finally {
        sock.uncork();
      }
      if (backlog.length === 0 && !paused && sock.isPaused()) sock.resume();
    };
    sock.on('drain', () => {
      if (paused) {
        paused = false;
        if (backlog.length === 0) sock.resume();
      }
    });
    sock.on('data', (chunk: Buffer) => {
      const frames = decoder.push(chunk);
      if (frames.length === 0) return;
      sock.cork();
      try {
        for (const f of frames) {
          if (f.kind === 'too-large') {
            const limit = authed ? maxFrame : preAuthFrame;
            send({
              id: null,
              error: {
                code: 'GRAPH_FRAME_TOO_LARGE',
                message: `frame of ${f.length} bytes exceeds the limit of ${limit} bytes${authed ? '' : ' before auth'}; closing`,
              },
            });
            log(`graph: closing a connection that sent a ${f.length}-byte frame`);
            sock.end();
            return;
          }
          if (backlog.length > 0 || inFlight >= maxInFlight) {
            // Too much running for this connection: keep the frame and stop reading until requests finish.
            backlog.push(f.body);
            sock.pause();
            continue;
          }
          if (!handle(f.body)) return;
        }
      } finally {
        sock.uncork();
      }
    });
    sock.on('error', (err) => log(`graph: connection error: ${err.message}`));
    sock.on('close', () => {
      clearTimeout(authTimer);
      backlog = [];
      this.sockets.delete(sock);
      ctx.state.unsubscribe?.();
    });
  }

  /** Stops accepting, closes every connection, and closes the store if this server created it. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    }).then(() => {
      this.namespaces.close();
      if (this.ownsStore) this.store.close();
      if (this.socketPath !== undefined) {
        try {
          unlinkSync(this.socketPath);
        } catch {
          // already gone
        }
      }
    });
    return this.closing;
  }
}

export const serveGraph = (options: GraphServerOptions): Promise<GraphServer> => GraphServer.listen(options);

/** A socket file left by a dead service is removed; one that still answers is in use and is an error. */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket = false;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new Error(`${path} exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another service is listening on ${path}`);
  unlinkSync(path);
}

/** Binds with a 0177 umask so the socket is never connectable by others, not even between bind and chmod. */
async function listenPrivately(net: Server, path: string): Promise<void> {
  const canUmask = isMainThread;
  const old = canUmask ? process.umask(0o177) : undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      net.once('error', reject);
      net.listen(path, () => {
        net.off('error', reject);
        resolve();
      });
    });
  } finally {
    if (old !== undefined) process.umask(old);
  }
  chmodSync(path, 0o600);
}

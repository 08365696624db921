// The graph service: accepts framed MessagePack requests on a Unix socket (mode 0600) or 127.0.0.1 TCP with a token.
import { timingSafeEqual, createHash } from 'node:crypto';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { isMainThread } from 'node:worker_threads';
import { SandboxError } from '../errors.ts';
import { dispatch } from './dispatch.ts';
import { GraphStore, type GraphStoreOptions } from './ledger.ts';
import { createMethods, type Method, type MethodContext } from './methods.ts';
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder, decode, encodeFrame, type ResponseMessage } from './protocol.ts';

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
  /** Diagnostic lines (connection errors, protocol violations). */
  log?: (line: string) => void;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export class GraphServer {
  /** `unix:///path` or `tcp://127.0.0.1:port`, ready for GraphClient.connect. */
  readonly url: string;
  readonly store: GraphStore;
  private readonly sockets = new Set<Socket>();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    url: string,
    store: GraphStore,
    private readonly ownsStore: boolean,
    private readonly socketPath: string | undefined,
  ) {
    this.url = url;
    this.store = store;
  }

  get connections(): number {
    return this.sockets.size;
  }

  static async listen(options: GraphServerOptions): Promise<GraphServer> {
    const { socket: socketPath, port } = options;
    if ((socketPath === undefined) === (port === undefined)) {
      throw new SandboxError('SANDBOX_INVALID_OPTIONS', 'the graph service needs exactly one of `socket` (a Unix socket path) or `port`');
    }
    if (port !== undefined && (options.token === undefined || options.token === '')) {
      throw new SandboxError('SANDBOX_INVALID_OPTIONS', 'a TCP graph service requires a token (option `token`, or SANDBOX_GRAPH_TOKEN for the CLI)');
    }
    if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
      throw new SandboxError('SANDBOX_INVALID_OPTIONS', `invalid port ${port}`);
    }
    const ownsStore = options.store === undefined;
    const storeOptions: GraphStoreOptions = {};
    if (options.ledgerFile !== undefined) storeOptions.ledgerFile = options.ledgerFile;
    if (options.fsync !== undefined) storeOptions.fsync = options.fsync;
    const store = options.store ?? new GraphStore(storeOptions);
    const methods = createMethods(store, { allowParsing: options.allowParsing !== false });
    const tokenDigest = options.token === undefined || options.token === '' ? undefined : digest(options.token);
    const log = options.log ?? (() => {});
    let server!: GraphServer;
    const net = createServer({ noDelay: true }, (sock) => server.accept(sock, methods, tokenDigest, options, log));

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
      throw new SandboxError('SANDBOX_CONNECTION', `graph service cannot listen on ${socketPath ?? `127.0.0.1:${port}`}: ${(err as Error).message}`, { cause: err });
    }
    const addr = net.address();
    const url = socketPath !== undefined ? `unix://${socketPath}` : `tcp://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : port}`;
    server = new GraphServer(net, url, store, ownsStore, socketPath);
    return server;
  }

  private accept(sock: Socket, methods: Record<string, Method>, tokenDigest: Buffer | undefined, options: GraphServerOptions, log: (l: string) => void): void {
    if (this.closing !== undefined) {
      sock.destroy();
      return;
    }
    this.sockets.add(sock);
    sock.setNoDelay?.(true);
    const maxFrame = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    const decoder = new FrameDecoder(maxFrame);
    const timeoutMs = options.requestTimeoutMs ?? 30_000;
    const maxBuffered = options.maxBufferedBytes ?? 8 * 1024 * 1024;
    let authed = tokenDigest === undefined;
    let paused = false;
    const ctx: MethodContext = {
      deadline: 0,
      push: (event, data) => send({ event, data } as never),
      state: {},
    };
    const send = (msg: ResponseMessage): void => {
      if (sock.destroyed || !sock.writable) return;
      let frame = encodeFrame(msg);
      if (frame.length - 4 > maxFrame) {
        // The client would drop the connection on it; answer that request with an error instead.
        const id = (msg as { id?: unknown }).id;
        frame = encodeFrame({
          id: typeof id === 'number' || typeof id === 'string' ? id : null,
          error: { code: 'GRAPH_FRAME_TOO_LARGE', message: `the reply is ${frame.length - 4} bytes, over the ${maxFrame}-byte frame limit; ask for less (e.g. subgraph, a lower limit)` },
        });
      }
      sock.write(frame);
      if (!paused && sock.writableLength > maxBuffered) {
        // A client that does not read its replies must not make the service buffer without bound.
        paused = true;
        sock.pause();
      }
    };
    sock.on('drain', () => {
      if (paused) {
        paused = false;
        sock.resume();
      }
    });
    sock.on('data', (chunk: Buffer) => {
      const frames = decoder.push(chunk);
      if (frames.length === 0) return;
      sock.cork();
      try {
        for (const f of frames) {
          if (f.kind === 'too-large') {
            send({ id: null, error: { code: 'GRAPH_FRAME_TOO_LARGE', message: `frame of ${f.length} bytes exceeds the limit of ${maxFrame} bytes; closing` } });
            log(`graph: closing a connection that sent a ${f.length}-byte frame`);
            sock.end();
            return;
          }
          let message: unknown;
          try {
            message = decode(f.body);
          } catch {
            send({ id: null, error: { code: 'GRAPH_BAD_FRAME', message: 'frame body is not valid MessagePack' } });
            continue;
          }
          if (!authed) {
            const m = message as { id?: unknown; method?: unknown; params?: { token?: unknown } } | null;
            const id = typeof m?.id === 'number' || typeof m?.id === 'string' ? m.id : null;
            const token = m?.method === 'auth' ? m.params?.token : undefined;
            if (typeof token === 'string' && timingSafeEqual(digest(token), tokenDigest as Buffer)) {
              authed = true;
              send({ id, result: { ok: true } });
              continue;
            }
            send({ id, error: { code: 'GRAPH_UNAUTHORIZED', message: 'the first request must be auth {token} with the right token' } });
            sock.end();
            return;
          }
          const m = message as { method?: unknown } | null;
          if (m !== null && typeof m === 'object' && m.method === 'auth') {
            const id = (message as { id?: unknown }).id;
            send({ id: typeof id === 'number' || typeof id === 'string' ? id : null, result: { ok: true } });
            continue;
          }
          ctx.deadline = Date.now() + timeoutMs;
          const reply = dispatch(methods, message, ctx, timeoutMs);
          if (reply instanceof Promise) void reply.then(send);
          else send(reply);
        }
      } finally {
        sock.uncork();
      }
    });
    sock.on('error', (err) => log(`graph: connection error: ${err.message}`));
    sock.on('close', () => {
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

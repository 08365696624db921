// The dashboard's HTTP handler (node:http): the page's three files, its JSON snapshot, and a Server-Sent Events stream.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { SandboxError } from '../errors.ts';
import type { DashboardState } from './dashboard-state.ts';

export interface DashboardServerOptions {
  /** 0 picks a free port (the chosen one is in the result). */
  port: number;
  /** Default 127.0.0.1: the page shows dead letters' payloads and has no login, so it is not exposed unless asked. */
  host?: string;
  /** How often a snapshot is pushed to the open pages (default 1000 ms). */
  intervalMs?: number;
}

export interface DashboardServer {
  server: Server;
  port: number;
  /** `http://host:port/`. */
  url: string;
  close(): Promise<void>;
}

/** The package's `dashboard/` folder: two levels up from runtime/ops/ in the sources, three from dist/runtime/ops/. */
const sourceMode = import.meta.url.endsWith('.ts');
const ASSETS = new URL(sourceMode ? '../../dashboard/' : '../../../dashboard/', import.meta.url);

/** The only paths served from disk, read once at start: no request names a file. */
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
};

/** Dead-letter reasons and payloads are guest-controlled text: the page writes them as text, and the policy
 *  forbids inline script and anything from another origin, so a crafted payload cannot run in the page. */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/** Serves the dashboard on host:port; resolves once listening. Snapshots are taken only while a page is open. */
export async function serveDashboard(state: DashboardState, options: DashboardServerOptions): Promise<DashboardServer> {
  const host = options.host ?? '127.0.0.1';
  const intervalMs = options.intervalMs ?? 1000;
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const [path, { file, type }] of Object.entries(FILES)) {
    const at = new URL(file, ASSETS);
    try {
      files.set(path, { body: await readFile(at), type });
    } catch (error) {
      throw new SandboxError(
        'SANDBOX_MISSING_DEPENDENCY',
        `the dashboard page is missing (${fileURLToPath(at)}): reinstall the package`,
        { cause: error },
      );
    }
  }
  // Loaded here, not at the top: importing node:http crashes Node 22 under --jitless (see metrics.ts).
  const { createServer } = await import('node:http');
  const streams = new Set<ServerResponse>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const push = (body: string): void => {
    for (const res of streams) res.write(`event: state\ndata: ${body}\n\n`);
  };
  // One snapshot per tick for every open page, the next tick scheduled when it is out: a slow queue-lag answer
  // delays the page rather than piling samples up.
  const tick = (): void => {
    timer = undefined;
    if (closed || streams.size === 0) return;
    state
      .sample()
      .then(
        (snapshot) => {
          push(JSON.stringify(snapshot));
        },
        (error: unknown) => {
          push(JSON.stringify({ error: (error as Error).message }));
        },
      )
      .finally(() => {
        if (!closed && streams.size > 0 && timer === undefined) timer = setTimeout(tick, intervalMs);
      });
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    // A page on another site could point its own name at 127.0.0.1 (DNS rebinding) and read this one; on loopback
    // only loopback names are answered.
    if (LOOPBACK.has(host) && !LOOPBACK.has(hostnameOf(req.headers.host))) {
      res.writeHead(403, { 'content-type': 'text/plain', ...SECURITY_HEADERS }).end('forbidden host\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain', ...SECURITY_HEADERS }).end();
      return;
    }
    const path = (req.url ?? '/').split('?')[0]!;
    const file = files.get(path);
    if (file !== undefined) {
      res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-cache', ...SECURITY_HEADERS });
      res.end(req.method === 'HEAD' ? undefined : file.body);
      return;
    }
    if (path === '/api/state') {
      state.sample().then(
        (snapshot) =>
          res
            .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store', ...SECURITY_HEADERS })
            .end(JSON.stringify(snapshot)),
        (error: unknown) =>
          res
            .writeHead(500, { 'content-type': 'text/plain', ...SECURITY_HEADERS })
            .end(`${(error as Error).message}\n`),
      );
      return;
    }
    if (path === '/api/events') {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        ...SECURITY_HEADERS,
      });
      // A reconnecting EventSource waits this long (ms) after the stream drops.
      res.write('retry: 1000\n\n');
      streams.add(res);
      res.on('close', () => streams.delete(res));
      // A write racing the page's disconnect fails here; unhandled, that error would end the process.
      res.on('error', () => streams.delete(res));
      if (timer === undefined) tick();
      return;
    }
    res
      .writeHead(404, { 'content-type': 'text/plain', ...SECURITY_HEADERS })
      .end('not found; the dashboard is at /, its data at /api/state and /api/events\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => {
      reject(
        new SandboxError(
          'SANDBOX_CONNECTION',
          `cannot serve the dashboard on ${host}:${options.port}: ${error.message}`,
          { cause: error },
        ),
      );
    });
    server.listen(options.port, host, () => {
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  return {
    server,
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    close: () => {
      closed = true;
      clearTimeout(timer);
      // Open event streams never end by themselves; server.close would wait for them forever.
      for (const res of streams) res.end();
      streams.clear();
      const done = new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
      server.closeAllConnections();
      return done;
    },
  };
}

/** The name in a Host header, without its port ("[::1]:8080" → "::1"). */
function hostnameOf(header: string | undefined): string {
  if (header === undefined) return '';
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(header);
  if (v6 !== null) return v6[1]!;
  return header.replace(/:\d+$/, '').toLowerCase();
}

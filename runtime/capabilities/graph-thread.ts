// The embedded graph engine for agents, in a thread of its own: a long search never stalls the host's event loop.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { encode } from '../codec.ts';
import type { GraphBackend } from './graph.ts';

/** What the host sends the graph thread. */
export type ToGraphThread =
  /** `deadline` is absolute (Date.now() terms): a request that waited behind another's long search gets less time, not more. */
  | {
      id: number;
      ns: string;
      method: string;
      params: Record<string, unknown>;
      deadline: number;
      maxResponseBytes: number;
    }
  | { id: number; drop: string };

/** Its answer: MessagePack `{result}` or `{error}`. */
export interface FromGraphThread {
  id: number;
  reply: Uint8Array;
}

/** Nodes plus edges one agent namespace of the embedded engine may hold. */
export const AGENT_NAMESPACE_ELEMENTS = 1_000_000;

/** The thread's heap: the graphs agents build live here, and a runaway one kills this thread, not the host. */
const GRAPH_THREAD_LIMITS = { maxOldGenerationSizeMb: 1024, stackSizeMb: 8 };

const sourceMode = import.meta.url.endsWith('.ts');
const mainUrl = new URL(sourceMode ? './graph-thread-main.ts' : './graph-thread-main.js', import.meta.url);

function startWorker(): Worker {
  if (!sourceMode) return new Worker(mainUrl, { resourceLimits: GRAPH_THREAD_LIMITS });
  // Tests and benchmarks run the TypeScript sources: register tsx in the thread before importing its entry.
  const tsxRoot = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const tsx = pathToFileURL(join(tsxRoot, 'dist', 'esm', 'api', 'index.mjs')).href;
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(mainUrl.href)}); })`;
  return new Worker(boot, { eval: true, resourceLimits: GRAPH_THREAD_LIMITS });
}

export class GraphThread implements GraphBackend {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, (reply: Uint8Array) => void>();
  private nextId = 1;
  private closed = false;

  call(
    ns: string,
    method: string,
    params: Record<string, unknown>,
    timeoutMs: number,
    maxResponseBytes: number,
  ): Promise<Uint8Array> {
    const id = this.nextId++;
    const reply = this.send({ id, ns, method, params, deadline: Date.now() + timeoutMs, maxResponseBytes });
    // The caller's run cannot wait longer than its time left, even when the thread is busy with someone else's call
    // (timeoutMs is 90% of the run's time left, so 110% of it still ends inside the run).
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<Uint8Array>((resolve) => {
      timer = setTimeout(
        () => {
          this.pending.delete(id);
          resolve(
            encode({
              error: {
                code: 'GRAPH_TIMEOUT',
                message: `'${method}' got no answer within the run's remaining ${timeoutMs} ms`,
              },
            }),
          );
        },
        Math.ceil(timeoutMs * 1.1),
      ); // the thread stops at timeoutMs; this only catches a thread busy elsewhere
      timer.unref();
    });
    return Promise.race([reply, late]).finally(() => {
      clearTimeout(timer);
    });
  }

  async dropNamespace(namespace: string): Promise<void> {
    if (this.worker !== null) await this.send({ id: this.nextId++, drop: namespace });
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = null;
    this.failAll('the sandbox was closed');
    await worker?.terminate();
  }

  private send(message: ToGraphThread): Promise<Uint8Array> {
    if (this.closed)
      return Promise.resolve(encode({ error: { code: 'SANDBOX_CLOSED', message: 'the sandbox is closed' } }));
    const worker = this.ensureWorker();
    return new Promise((resolve) => {
      try {
        worker.postMessage(message);
      } catch (error) {
        // Structured clone refuses some values (nesting deeper than the stack): that call fails, nothing else.
        resolve(
          encode({
            error: {
              code: 'GRAPH_INVALID_ARGUMENT',
              message: `the request cannot be passed to the graph engine: ${(error as Error).message}`,
            },
          }),
        );
        return;
      }
      this.pending.set(message.id, resolve);
      worker.ref();
    });
  }

  private ensureWorker(): Worker {
    if (this.worker !== null) return this.worker;
    const worker = startWorker();
    worker.on('message', (m: FromGraphThread) => {
      const resolve = this.pending.get(m.id);
      this.pending.delete(m.id);
      resolve?.(m.reply);
      if (this.pending.size === 0) worker.unref();
    });
    const gone = (why: string) => {
      if (this.worker !== worker) return;
      this.worker = null; // the next call starts a fresh (empty) engine
      this.failAll(why);
    };
    worker.on('error', (error) => {
      gone(`the graph engine failed: ${error.message}`);
    });
    worker.on('exit', (code) => {
      gone(`the graph engine stopped (exit code ${code}); its namespaces are lost`);
    });
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private failAll(message: string): void {
    const reply = encode({ error: { code: 'GRAPH_INTERNAL', message } });
    for (const resolve of this.pending.values()) resolve(reply);
    this.pending.clear();
  }
}

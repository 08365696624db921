// Runs `node bin/sandbox.js serve <yaml>` as a child process (as a user would), so tests can signal or SIGKILL it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './paths.ts';
export { sleep, waitFor } from './wait-for.ts';

export interface ServeProcess {
  readonly child: ChildProcess;
  /** stdout and stderr so far. */
  output(): { stdout: string; stderr: string };
  /** Resolves once serve says it is running (its agents are subscribed); rejects if it exits first. */
  ready(timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code (or the signal's name) once the process has ended. */
  exited: Promise<number | NodeJS.Signals>;
  /** Sends the signal and waits for the exit, SIGKILLing it after `timeoutMs`. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | NodeJS.Signals>;
}

const BIN = join(repoRoot, 'bin', 'sandbox.js');

/** Fails with the command that builds it: the child runs the compiled library in dist/. */
/** A serve process's last 30 lines of stderr, for a failed expectation about it. */
export function stderrTail(node: { output(): { stderr: string } }): string {
  return node.output().stderr.split('\n').slice(-30).join('\n');
}

export function requireDist(): void {
  if (!existsSync(join(repoRoot, 'dist', 'runtime', 'cli', 'main.js')))
    throw new Error('dist/ is missing: run `npm run build`');
}

export function startServe(args: string[], options: { cwd?: string } = {}): ServeProcess {
  requireDist();
  const child = spawn(process.execPath, [BIN, 'serve', ...args], {
    cwd: options.cwd ?? repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<number | NodeJS.Signals>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ?? code ?? -1));
  });
  let ended = false;
  void exited.then(() => (ended = true));
  const ready = async (timeoutMs = 30_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!/^running;/m.test(stderr)) {
      if (ended) throw new Error(`sandbox serve exited before it was ready:\n${stderr}`);
      if (Date.now() > deadline) throw new Error(`sandbox serve was not ready within ${timeoutMs} ms:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<number | NodeJS.Signals> => {
    if (!ended) child.kill(signal);
    const timer = setTimeout(() => {
      if (!ended) child.kill('SIGKILL');
    }, timeoutMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };
  return { child, output: () => ({ stdout, stderr }), ready, exited, stop };
}

/** A topology with an `echo` agent (echo-value: `{"$emit": topic, id}` → that event) and a `poison` agent
 *  (traps on every message), on topics unique to `tag` so tests sharing a server never see each other's. */
export function echoTopology(
  queueUrl: string,
  tag: string,
  options: { concurrency?: number; maxDeliveries?: number } = {},
): string {
  const echo = join(repoRoot, 'agents', 'build', 'echo-value.wasm');
  const poison = join(repoRoot, 'fixtures', 'build', 'trap-unreachable.wasm');
  for (const file of [echo, poison])
    if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build:agents\``);
  return `queue: ${queueUrl}
deadLetter: dl${tag}
agents:
  - name: echo
    module: ${JSON.stringify(echo)}
    subscribe: [in${tag}.ok]
    group: echo${tag}
    concurrency: ${options.concurrency ?? 2}
  - name: poison
    module: ${JSON.stringify(poison)}
    subscribe: [in${tag}.bad]
    group: poison${tag}
    maxDeliveries: ${options.maxDeliveries ?? 3}
    backoffMs: 20
`;
}

/** Counts how often each id was seen: the distinct ids say whether anything was lost, the rest are duplicates. */
export class IdCounter {
  readonly seen = new Map<number, number>();
  total = 0;

  add(id: number): void {
    this.seen.set(id, (this.seen.get(id) ?? 0) + 1);
    this.total++;
  }

  get distinct(): number {
    return this.seen.size;
  }

  get duplicates(): number {
    return this.total - this.seen.size;
  }

  /** Ids in [0, n) never seen. */
  missing(n: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < n; i++) if (!this.seen.has(i)) out.push(i);
    return out;
  }
}

/** The per-agent summary line serve prints when it stops: runs, events, acked, retried, dead-lettered. */
export function summary(
  stderr: string,
  agent: string,
): { runs: number; events: number; acked: number; retried: number; deadLettered: number } | undefined {
  const m = new RegExp(
    `^${agent}: (\\d+) runs.*?, (\\d+) events published, (\\d+) acked, (\\d+) retried, (\\d+) dead-lettered$`,
    'm',
  ).exec(stderr);
  if (m === null) return undefined;
  const [runs, events, acked, retried, deadLettered] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  return { runs, events, acked, retried, deadLettered };
}

// Starts a throwaway redis-server for tests: a free loopback port, a temp dir, no persistence, killed with the test process.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './services.ts';

export const REDIS_INSTALL_COMMAND = 'bash scripts/services/install.sh redis';

export interface RedisServer {
  port: number;
  url: string;
  /** Stops the server (SIGTERM, then SIGKILL) and, unless keepDir, removes its directory. */
  stop(options?: { keepDir?: boolean }): Promise<void>;
  /** Starts it again on the same port (after stop({ keepDir: true })). */
  start(): Promise<void>;
}

function which(command: string): string | undefined {
  const result = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  const found = result.stdout.trim();
  return result.status === 0 && found.length > 0 ? found : undefined;
}

/** Why redis-server cannot be started here, or undefined when it can. */
export function redisMissing(): string | undefined {
  return which('redis-server') === undefined
    ? `redis-server is not installed (run \`${REDIS_INSTALL_COMMAND}\`)`
    : undefined;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startRedis(): Promise<RedisServer> {
  const binary = which('redis-server');
  if (binary === undefined) throw new Error(redisMissing());
  const setpriv = which('setpriv');
  const dir = mkdtempSync(path.join(tmpdir(), 'sandbox-redis-'));
  const port = await freePort();
  // Not the Debian service: our own process, no RDB/AOF files, nothing left behind.
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--logfile',
    path.join(dir, 'redis.log'),
  ];
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    // With setpriv the server dies with the process that started it, so a killed test run leaves none behind.
    const [command, argv] =
      setpriv === undefined ? [binary, args] : [setpriv, ['--pdeathsig', 'SIGKILL', '--', binary, ...args]];
    const proc = spawn(command, argv, { cwd: dir, stdio: 'ignore' });
    child = proc;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null)
        throw new Error(`redis-server exited during startup (code ${proc.exitCode}); see ${dir}/redis.log`);
      if (await portOpen(port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('redis-server did not accept connections within 10 s');
  };
  const stop = async (options: { keepDir?: boolean } = {}): Promise<void> => {
    const proc = child;
    child = undefined;
    if (proc !== undefined && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    if (options.keepDir !== true) rmSync(dir, { recursive: true, force: true });
  };
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, stop, start };
}

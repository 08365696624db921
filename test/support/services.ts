// Starts real servers (nats-server, a single-node KRaft Kafka) for tests and benchmarks: free loopback ports, temp dirs.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  closeSync,
} from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const INSTALL_COMMAND = 'bash scripts/services/install.sh';

export type ServiceKind = 'nats' | 'kafka';

/** Everything needed to find, restart or stop a server (it is passed from the global setup to test workers as
 *  plain data; restart it only from the process that started it, which it does not outlive). */
export interface ServiceInfo {
  kind: ServiceKind;
  host: string;
  port: number;
  /** `nats://127.0.0.1:port` or `kafka://127.0.0.1:port`, as createQueue takes it. */
  url: string;
  dir: string;
  command: string;
  args: string[];
  pidFile: string;
  logFile: string;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

function which(command: string): string | undefined {
  const result = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  const found = result.stdout.trim();
  return result.status === 0 && found.length > 0 ? found : undefined;
}

/**
 * The nats-server to run: the newest one scripts/services/install.sh built into .services/nats-server-<version>/
 * (cluster mode's tests want a current server), else the one on PATH (Debian's 2.9).
 */
export function natsServerCommand(): string | undefined {
  const base = path.join(repoRoot, '.services');
  if (existsSync(base)) {
    const built = readdirSync(base)
      .filter((d) => d.startsWith('nats-server-') && existsSync(path.join(base, d, 'bin', 'nats-server')))
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    const last = built[built.length - 1];
    if (last !== undefined) return path.join(base, last, 'bin', 'nats-server');
  }
  return which('nats-server');
}

/** Why a server cannot be started here, or undefined when it can. */
export function missingReason(kind: ServiceKind): string | undefined {
  if (kind === 'nats') {
    return natsServerCommand() === undefined
      ? `nats-server is not installed (run \`${INSTALL_COMMAND} nats\`)`
      : undefined;
  }
  if (which('java') === undefined) return `java is not installed (run \`${INSTALL_COMMAND} kafka\`)`;
  return kafkaLibs() === undefined
    ? `the Kafka jars are not in .services/ (run \`${INSTALL_COMMAND} kafka\`)`
    : undefined;
}

/** `java` and the classpath of the Kafka jars (to run Kafka's own tools: a Java producer), or undefined. */
export function kafkaJava(): { java: string; classpath: string } | undefined {
  const java = which('java');
  const libs = kafkaLibs();
  return java === undefined || libs === undefined ? undefined : { java, classpath: `${libs}/*` };
}

function kafkaLibs(): string | undefined {
  const base = path.join(repoRoot, '.services');
  if (!existsSync(base)) return undefined;
  const dirs = readdirSync(base)
    .filter((d) => d.startsWith('kafka-') && existsSync(path.join(base, d, '.complete')))
    .sort();
  const last = dirs[dirs.length - 1];
  return last === undefined ? undefined : path.join(base, last, 'libs');
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function readPid(info: ServiceInfo): number | undefined {
  try {
    const pid = Number(readFileSync(info.pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-25).join('\n');
  } catch {
    return '(no log)';
  }
}

const SETPRIV = which('setpriv');

/** Launches the server in its own process group and waits until it accepts connections and, when `readyLine`
 *  is given, has logged it. Where util-linux's setpriv exists the server dies with the process that started
 *  it, so a killed test run or benchmark leaves no broker behind. */
export async function launch(info: ServiceInfo, timeoutMs: number, readyLine?: RegExp): Promise<void> {
  const out = openSync(info.logFile, 'a');
  const [command, args] =
    SETPRIV === undefined
      ? [info.command, info.args]
      : [SETPRIV, ['--pdeathsig', 'SIGKILL', '--', info.command, ...info.args]];
  const child = spawn(command, args, { cwd: info.dir, detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${info.command}`);
  writeFileSync(info.pidFile, String(child.pid));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(child.pid)) throw new Error(`${info.kind} exited during startup:\n${tail(info.logFile)}`);
    if (
      (await portOpen(info.host, info.port)) &&
      (readyLine === undefined || readyLine.test(readFileSync(info.logFile, 'utf8')))
    )
      return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stop(info, { keepDir: true });
  throw new Error(`${info.kind} did not become ready within ${timeoutMs} ms:\n${tail(info.logFile)}`);
}

/** Stops the server (SIGTERM, then SIGKILL after `graceMs`) and, unless keepDir, removes its directory. */
export async function stop(
  info: ServiceInfo,
  options: { signal?: NodeJS.Signals; graceMs?: number; keepDir?: boolean } = {},
): Promise<void> {
  const pid = readPid(info);
  if (pid !== undefined && alive(pid)) {
    try {
      process.kill(-pid, options.signal ?? 'SIGTERM'); // the process group: Kafka's JVM has no children, but be sure
    } catch {
      process.kill(pid, options.signal ?? 'SIGTERM');
    }
    const deadline = Date.now() + (options.graceMs ?? 15_000);
    while (alive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    if (alive(pid)) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        process.kill(pid, 'SIGKILL');
      }
      while (alive(pid)) await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  // Forget the pid once it is gone: pids are reused (32,768 of them on this kind of machine), and a later stop
  // must not signal whatever process got this one next.
  rmSync(info.pidFile, { force: true });
  if (options.keepDir !== true) rmSync(info.dir, { recursive: true, force: true });
}

/** Stops and starts the same server with the same data: the fault tests' "broker restart". */
export async function restart(info: ServiceInfo, downMs = 0, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  await stop(info, { keepDir: true, signal });
  if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
  await launch(
    info,
    info.kind === 'kafka' ? 90_000 : 15_000,
    info.kind === 'kafka' ? /Kafka Server started/ : undefined,
  );
}

export async function startNats(): Promise<ServiceInfo> {
  const reason = missingReason('nats');
  if (reason !== undefined) throw new Error(reason);
  const dir = mkdtempSync(path.join(tmpdir(), 'sandbox-nats-'));
  const port = await freePort();
  const info: ServiceInfo = {
    kind: 'nats',
    host: '127.0.0.1',
    port,
    url: `nats://127.0.0.1:${port}`,
    dir,
    command: natsServerCommand()!,
    args: ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', path.join(dir, 'jetstream')],
    pidFile: path.join(dir, 'server.pid'),
    logFile: path.join(dir, 'server.log'),
  };
  await launch(info, 15_000);
  return info;
}

export async function startKafka(): Promise<ServiceInfo> {
  const reason = missingReason('kafka');
  if (reason !== undefined) throw new Error(reason);
  const libs = kafkaLibs()!;
  const dir = mkdtempSync(path.join(tmpdir(), 'sandbox-kafka-'));
  const port = await freePort();
  const controllerPort = await freePort();
  const dataDir = path.join(dir, 'data');
  mkdirSync(dataDir);
  const properties = path.join(dir, 'server.properties');
  writeFileSync(
    properties,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      `log.dirs=${dataDir}`,
      'num.partitions=1',
      'default.replication.factor=1',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=4',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'auto.create.topics.enable=true',
      'log.flush.interval.messages=9223372036854775807',
      '',
    ].join('\n'),
  );
  const log4j = path.join(dir, 'log4j.properties');
  writeFileSync(
    log4j,
    [
      'log4j.rootLogger=WARN, stdout',
      'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
      'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
      'log4j.logger.kafka.server.KafkaRaftServer=INFO',
      '',
    ].join('\n'),
  );
  const java = which('java')!;
  const classpath = `${libs}/*`;
  // A base64url id may begin with '-', which the tool's argument parser would take for an option: hence `--cluster-id=`.
  const clusterId = randomBytes(16).toString('base64url');
  const format = spawnSync(
    java,
    [
      '-Xmx256m',
      `-Dlog4j.configuration=file:${log4j}`,
      '-cp',
      classpath,
      'kafka.tools.StorageTool',
      'format',
      `--cluster-id=${clusterId}`,
      '-c',
      properties,
    ],
    {
      encoding: 'utf8',
    },
  );
  if (format.status !== 0) throw new Error(`kafka storage format failed: ${format.stderr}${format.stdout}`);
  const info: ServiceInfo = {
    kind: 'kafka',
    host: '127.0.0.1',
    port,
    url: `kafka://127.0.0.1:${port}`,
    dir,
    command: java,
    args: [
      '-Xms256m',
      '-Xmx512m',
      '-XX:+UseG1GC',
      '-XX:TieredStopAtLevel=1', // startup matters more than peak JIT for a test broker on 2 shared cores
      '-Djava.awt.headless=true',
      `-Dlog4j.configuration=file:${log4j}`,
      '-cp',
      classpath,
      'kafka.Kafka',
      properties,
    ],
    pidFile: path.join(dir, 'server.pid'),
    logFile: path.join(dir, 'server.log'),
  };
  await launch(info, 90_000, /Kafka Server started/);
  return info;
}

export function startService(kind: ServiceKind): Promise<ServiceInfo> {
  return kind === 'nats' ? startNats() : startKafka();
}

/** What the queue tests see: a running server, or why there is none. */
export type ServiceSlot = { info: ServiceInfo; missing?: undefined } | { info?: undefined; missing: string };

/**
 * Why the tests of `kind` skip here (with the install command), or undefined when its server is installed. In
 * CI (CI=true) a missing server is an error instead: the run must not pass by skipping.
 */
export function skipReason(kind: ServiceKind): string | undefined {
  const reason = missingReason(kind);
  if (reason === undefined) return undefined;
  if (process.env.CI === 'true') throw new Error(`CI requires ${kind}: ${reason}; install with \`${INSTALL_COMMAND}\``);
  return `${reason}; install with \`${INSTALL_COMMAND}\``;
}

/** A server for one test file: the global setup's when it ran, else one of its own, recorded in `started` to stop. */
export async function serviceSlot(
  kind: ServiceKind,
  provided: Record<ServiceKind, ServiceSlot> | undefined,
  started: ServiceInfo[],
): Promise<ServiceSlot> {
  if (provided !== undefined) return provided[kind];
  const missing = skipReason(kind);
  if (missing !== undefined) return { missing };
  const info = await startService(kind);
  started.push(info);
  return { info };
}

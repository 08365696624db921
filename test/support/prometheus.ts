// Starts a real Prometheus (the Debian package's binary) for tests: free loopback port, temp dir, generated config.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, INSTALL_COMMAND } from './services.ts';

export const PROMETHEUS_INSTALL = `${INSTALL_COMMAND} prometheus (or: apt-get install -y prometheus)`;

function which(command: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  const found = r.stdout.trim();
  return r.status === 0 && found.length > 0 ? found : undefined;
}

/** Why Prometheus cannot run here, or undefined when it can. */
export function prometheusMissing(): string | undefined {
  return which('prometheus') === undefined ? `prometheus is not installed (run \`${PROMETHEUS_INSTALL}\`)` : undefined;
}

export interface ScrapeJob {
  job: string;
  /** host:port serving /metrics */
  target: string;
}

export interface PrometheusServer {
  url: string;
  dir: string;
  stop(): Promise<void>;
  log(): string;
}

/** Launches Prometheus scraping `jobs` every `intervalSeconds`; resolves once /-/ready answers 200. */
export async function startPrometheus(jobs: ScrapeJob[], intervalSeconds = 1): Promise<PrometheusServer> {
  const reason = prometheusMissing();
  if (reason !== undefined) throw new Error(reason);
  const dir = mkdtempSync(path.join(tmpdir(), 'sandbox-prometheus-'));
  const port = await freePort();
  const config = path.join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      `  scrape_interval: ${intervalSeconds}s`,
      `  evaluation_interval: ${intervalSeconds}s`,
      'scrape_configs:',
      ...jobs.flatMap((j) => [
        `  - job_name: ${JSON.stringify(j.job)}`,
        '    static_configs:',
        `      - targets: [${JSON.stringify(j.target)}]`,
      ]),
      '',
    ].join('\n'),
  );
  const logFile = path.join(dir, 'prometheus.log');
  const out = openSync(logFile, 'a');
  const args = [
    `--config.file=${config}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ];
  const setpriv = which('setpriv');
  // With setpriv the server dies with the test process, so an aborted run leaves no Prometheus behind.
  const [command, argv] =
    setpriv === undefined ? ['prometheus', args] : [setpriv, ['--pdeathsig', 'SIGKILL', '--', 'prometheus', ...args]];
  const child = spawn(command, argv, { cwd: dir, stdio: ['ignore', out, out] });
  closeSync(out);
  let exited = false;
  child.once('exit', () => (exited = true));
  const url = `http://127.0.0.1:${port}`;
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
    } catch {
      return '(no log)';
    }
  };
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const deadline = Date.now() + 10_000;
      while (!exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (!exited) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new Error(`prometheus exited during startup:\n${log()}`);
    try {
      if ((await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) })).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus did not become ready within 30 s:\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, dir, stop, log };
}

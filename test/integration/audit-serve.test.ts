// `sandbox audit` against real `sandbox serve` processes (one healthy, one starved by fuel-burning runs), read directly and through a real Prometheus.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HealthReport } from '../../runtime/ops/health.ts';
import { fixturePath, repoRoot, requireBuilt } from '../support/paths.ts';
import { freePort } from '../support/services.ts';
import {
  PROMETHEUS_INSTALL,
  prometheusMissing,
  startPrometheus,
  type PrometheusServer,
} from '../support/prometheus.ts';

const bin = join(repoRoot, 'bin', 'sandbox.js');
const dir = mkdtempSync(join(tmpdir(), 'audit-serve-'));

interface Served {
  child: ChildProcess;
  port: number;
  stderr: () => string;
}

async function serve(args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [bin, 'serve', ...args, '--metrics-port', '0'], {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const m = /metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(stderr);
    if (m && /running;/.test(stderr)) return { child, port: Number(m[1]), stderr: () => stderr };
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`serve did not start:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function audit(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, 'audit', ...args], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const severityOf = (r: HealthReport, mode: string) => r.modes.find((m) => m.mode === mode)?.severity;

let healthy: Served;
let starved: Served;
const auditFile = join(dir, 'audit.ndjson');

beforeAll(async () => {
  if (!existsSync(join(repoRoot, 'dist', 'runtime', 'ops', 'metrics.js')))
    throw new Error('dist/ is stale: run `npm run build`');
  // Healthy: the example triage swarm over its sample logs, twenty times over.
  const logs = readFileSync(join(repoRoot, 'examples', 'logs.ndjson'), 'utf8');
  writeFileSync(join(dir, 'logs.ndjson'), logs.repeat(20));
  healthy = await serve([
    join(repoRoot, 'examples', 'sandbox.yaml'),
    '--ingest',
    join(dir, 'logs.ndjson'),
    '--topic',
    'logs.app',
    '--audit-log',
    auditFile,
  ]);
  // Starved: every run spins until its fuel (about 35 ms of CPU) runs out, and there is always another waiting.
  writeFileSync(
    join(dir, 'burn.yaml'),
    `agents:
  - name: burner
    module: ${JSON.stringify(requireBuilt(fixturePath('loop-forever')))}
    subscribe: [burn.>]
    maxDeliveries: 2
    backoffMs: 1
    limits:
      fuel: 30000000
      timeoutMs: 2000
`,
  );
  writeFileSync(
    join(dir, 'burn.ndjson'),
    `${Array.from({ length: 3000 }, (_, i) => JSON.stringify({ i })).join('\n')}\n`,
  );
  starved = await serve([join(dir, 'burn.yaml'), '--ingest', join(dir, 'burn.ndjson'), '--topic', 'burn.x']);
}, 60_000);

afterAll(() => {
  healthy?.child.kill('SIGKILL');
  starved?.child.kill('SIGKILL');
});

describe('sandbox audit --metrics', () => {
  it('passes a healthy swarm (exit 0 with --fail-on-critical) and its audit trail has a line per run', async () => {
    const r = await audit([
      '--metrics',
      `http://127.0.0.1:${healthy.port}/metrics`,
      '--window',
      '2',
      '--json',
      '--fail-on-critical',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as HealthReport;
    expect(report.severity).not.toBe('critical');
    expect(report.score).toBeGreaterThanOrEqual(85);
    const metrics = await (await fetch(`http://127.0.0.1:${healthy.port}/metrics`)).text();
    const runs = [...metrics.matchAll(/^sandbox_runs_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    const acked = Number(/^sandbox_acked_total\{agent="triage"\} (\d+)$/m.exec(metrics)?.[1]);
    expect(runs).toBeGreaterThan(1000);
    const lines = readFileSync(auditFile, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { status: string; agent: string });
    // Runs may still be going: the file has at least the runs counted before it was read.
    expect(lines.length).toBeGreaterThanOrEqual(runs);
    expect(lines.filter((l) => l.status === 'ok').length).toBeGreaterThanOrEqual(acked);
    console.log(
      `healthy: score ${report.score}, ${runs} runs, ${lines.length} audit lines; signals ${JSON.stringify(report.signals)}`,
    );
  });

  it('fails a starved swarm (exit 1 with --fail-on-critical): fuel-exhaustion storm and saturated workers', async () => {
    const r = await audit([
      '--metrics',
      `http://127.0.0.1:${starved.port}/metrics`,
      '--window',
      '3',
      '--json',
      '--fail-on-critical',
    ]);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as HealthReport;
    expect(report.severity).toBe('critical');
    expect(severityOf(report, 'fuel-exhaustion-storm')).toBe('critical');
    expect(report.signals.workerUtilization).toBeGreaterThan(0.5);
    expect(report.score).toBeLessThanOrEqual(60);
    console.log(
      `starved: score ${report.score}; ${report.modes.map((m) => `${m.mode}=${m.severity}`).join(' ')}; signals ${JSON.stringify(report.signals)}`,
    );
    // Without --fail-on-critical the same report exits 0; text output names the mode.
    const text = await audit(['--metrics', `http://127.0.0.1:${starved.port}/metrics`, '--window', '1']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/CRIT +fuel-exhaustion-storm/);
  });

  it('exits 2 for an unreachable endpoint, a bad config or bad usage, with a clear message', async () => {
    const port = healthy.port;
    const closed = await freePort();
    const down = await audit(['--metrics', `http://127.0.0.1:${closed}/metrics`, '--window', '0.1']);
    expect(down.code).toBe(2);
    expect(down.stderr).toBe(
      `sandbox audit: cannot reach the metrics endpoint at http://127.0.0.1:${closed}/metrics: ECONNREFUSED\n`,
    );
    const badConfig = join(dir, 'bad.yaml');
    writeFileSync(badConfig, 'trapStorm: {warning: 0.5, critical: 0.1}\n');
    const bad = await audit(['--metrics', `http://127.0.0.1:${port}/metrics`, '--config', badConfig]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/trapStorm\.warning \(0\.5\) is above trapStorm\.critical/);
    expect((await audit([])).code).toBe(2);
    expect((await audit(['--metrics', 'nope'])).stderr).toMatch(/--metrics expects a URL/);
    const init = join(dir, 'audit-config.yaml');
    expect((await audit(['--init', init])).code).toBe(0);
    expect((await audit(['--init', init])).code).toBe(2); // exists
    const strict = await audit(['--metrics', `http://127.0.0.1:${port}/metrics`, '--config', init, '--window', '0.5']);
    expect(strict.code).toBe(0);
  });
});

describe('sandbox audit --target (a real Prometheus)', () => {
  let prometheus: PrometheusServer | undefined;
  afterAll(async () => {
    await prometheus?.stop();
  });

  it('scrapes both swarms; the healthy one passes, the starved one is critical', async (ctx) => {
    const missing = prometheusMissing();
    if (missing !== undefined) {
      if (process.env.CI === 'true') throw new Error(`CI requires Prometheus: ${missing}`);
      ctx.skip(`${missing}; install with \`${PROMETHEUS_INSTALL}\``);
      return;
    }
    prometheus = await startPrometheus([
      { job: 'healthy', target: `127.0.0.1:${healthy.port}` },
      { job: 'starved', target: `127.0.0.1:${starved.port}` },
    ]);
    const samples = async (job: string) => {
      const res = await fetch(
        `${prometheus!.url}/api/v1/query?query=${encodeURIComponent(`count_over_time(sandbox_workers{job="${job}"}[1m])`)}`,
      );
      const body = (await res.json()) as { data: { result: { value: [number, string] }[] } };
      return Number(body.data.result[0]?.value[1] ?? 0);
    };
    const deadline = Date.now() + 40_000;
    while ((await samples('healthy')) < 6 || (await samples('starved')) < 6) {
      if (Date.now() > deadline) throw new Error(`Prometheus did not scrape both swarms:\n${prometheus.log()}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const ok = await audit([
      '--target',
      prometheus.url,
      '--match',
      'job="healthy"',
      '--window',
      '5',
      '--json',
      '--fail-on-critical',
    ]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    const okReport = JSON.parse(ok.stdout) as HealthReport;
    expect(okReport.severity).not.toBe('critical');

    const bad = await audit([
      '--target',
      prometheus.url,
      '--match',
      'job="starved"',
      '--window',
      '5',
      '--json',
      '--fail-on-critical',
    ]);
    expect(bad.code).toBe(1);
    const badReport = JSON.parse(bad.stdout) as HealthReport;
    expect(severityOf(badReport, 'fuel-exhaustion-storm')).toBe('critical');
    expect(badReport.signals.runsPerSec).toBeGreaterThan(1);
    console.log(
      `prometheus: healthy ${okReport.score} (${JSON.stringify(okReport.signals)}), starved ${badReport.score} (${badReport.modes.map((m) => `${m.mode}=${m.severity}`).join(' ')}; ${JSON.stringify(badReport.signals)})`,
    );

    const none = await audit(['--target', prometheus.url, '--match', 'job="nobody"']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no sandbox_workers series matching \{job="nobody"\}/);
    const unreachable = await audit(['--target', `http://127.0.0.1:${await freePort()}`]);
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toMatch(
      /cannot reach Prometheus at http:\/\/127\.0\.0\.1:\d+\/api\/v1\/query\?query=.*: ECONNREFUSED/,
    );
  });
});

// `sandbox audit`: a CI health gate over a swarm's metrics (a Prometheus server or a /metrics endpoint).
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  DEFAULT_HEALTH_CONFIG,
  evaluateHealth,
  HEALTH_CONFIG_TEMPLATE,
  parseHealthConfig,
  type HealthConfig,
  type HealthReport,
} from '../ops/health.ts';
import { signalsFromEndpoint, signalsFromPrometheus } from '../ops/signals.ts';
import { parseCommandArgs, UsageError } from './args.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type Command } from './io.ts';

export const AUDIT_HELP = `Usage: sandbox audit (--target <url> | --metrics <url>) [options]
       sandbox audit --init [file]

Computes a health score (0-100) and failure modes (event-loop starvation, worker
saturation, admission shedding, fuel-exhaustion storms, trap storms) from a running
swarm's metrics (\`sandbox serve --metrics-port <n>\`).

  --target <url>        a Prometheus server that scrapes the swarm, e.g. http://127.0.0.1:9090
                        (PromQL rates over the config's windowSeconds)
  --match <matchers>    with --target: label matchers for every series, e.g. 'job="swarm"'
  --metrics <url>       the swarm's /metrics endpoint, scraped twice sampleSeconds apart
  --config <file>       thresholds (YAML); without it the defaults apply
  --window <seconds>    overrides windowSeconds (--target) or sampleSeconds (--metrics)
  --json                print the report as JSON
  --fail-on-critical    exit 1 when any failure mode is critical
  --init [file]         write a commented thresholds template (default audit.yaml) and exit

Exit codes: 0 audited (and nothing critical with --fail-on-critical), 1 a critical
failure mode with --fail-on-critical, 2 usage error, bad config or unreachable target.`;

const ICON = { ok: 'ok', warning: 'WARN', critical: 'CRIT' } as const;

export function formatReport(report: HealthReport, source: string): string {
  const lines = [`health ${report.score}/100 (${report.severity}) from ${source}`];
  const width = Math.max(...report.modes.map((m) => m.mode.length));
  for (const m of report.modes)
    lines.push(
      `  ${ICON[m.severity].padEnd(4)}  ${m.mode.padEnd(width)}  ${m.detail}  [warning ≥ ${m.warning}, critical ≥ ${m.critical}]`,
    );
  for (const n of report.notes) lines.push(`  note: ${n}`);
  return lines.join('\n');
}

function checkUrl(option: string, text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${option} expects a URL such as http://127.0.0.1:9090, got ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`${option} must be an http(s) URL, got ${JSON.stringify(text)}`);
  return text;
}

export const audit: Command = async (argv, io) => {
  const parsed = parseCommandArgs(
    'audit',
    argv,
    {
      target: { type: 'string' },
      metrics: { type: 'string' },
      match: { type: 'string' },
      config: { type: 'string' },
      window: { type: 'string' },
      json: { type: 'boolean' },
      'fail-on-critical': { type: 'boolean' },
      init: { type: 'boolean' },
      force: { type: 'boolean' },
    },
    AUDIT_HELP,
    io,
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  try {
    if (values.init) {
      if (positionals.length > 1) throw new UsageError('--init takes at most one file name');
      const file = resolve(io.cwd, positionals[0] ?? 'audit.yaml');
      if (existsSync(file) && !values.force) throw new UsageError(`${file} exists; remove it or add --force`);
      await writeFile(file, HEALTH_CONFIG_TEMPLATE);
      io.stderr.write(`wrote ${file}\n`);
      return EXIT_OK;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    if ((values.target === undefined) === (values.metrics === undefined))
      throw new UsageError('give exactly one of --target <prometheus url> or --metrics <endpoint url>');
    if (values.match !== undefined && values.target === undefined) throw new UsageError('--match goes with --target');
    if (values.match !== undefined && !/^\s*[a-zA-Z_]\w*\s*(=|!=|=~|!~)\s*"/.test(values.match))
      throw new UsageError(`--match expects label matchers such as 'job="swarm"', got ${JSON.stringify(values.match)}`);
    let config: HealthConfig = { ...DEFAULT_HEALTH_CONFIG };
    if (values.config !== undefined) {
      let text: string;
      try {
        text = await readFile(resolve(io.cwd, values.config), 'utf8');
      } catch (error) {
        throw new UsageError(
          `cannot read --config ${values.config}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        );
      }
      config = parseHealthConfig(text);
    }
    if (values.window !== undefined) {
      const w = Number(values.window);
      if (!Number.isFinite(w) || w <= 0)
        throw new UsageError(`--window expects a positive number of seconds, got ${JSON.stringify(values.window)}`);
      config =
        values.target !== undefined ? { ...config, windowSeconds: Math.max(1, w) } : { ...config, sampleSeconds: w };
    }
    const source =
      values.target !== undefined ? checkUrl('--target', values.target) : checkUrl('--metrics', values.metrics!);
    const signals =
      values.target !== undefined
        ? await signalsFromPrometheus(source, config.windowSeconds, values.match)
        : await signalsFromEndpoint(source, config.sampleSeconds, io.signal);
    const report = evaluateHealth(signals, config);
    io.stdout.write(
      values.json ? `${JSON.stringify({ source, ...report }, null, 2)}\n` : `${formatReport(report, source)}\n`,
    );
    return values['fail-on-critical'] && report.severity === 'critical' ? EXIT_FAILED : EXIT_OK;
  } catch (error) {
    io.stderr.write(`sandbox audit: ${(error as Error).message}\n`);
    if (error instanceof UsageError) io.stderr.write(`Try 'sandbox audit --help'.\n`);
    // Every failure before a report (bad options, bad config, a target that cannot be read) is exit 2: a CI gate
    // must tell "the swarm is unhealthy" (1) from "the gate could not look" (2).
    return EXIT_USAGE;
  }
};

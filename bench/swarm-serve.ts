// bench/swarm-serve: runs/s of `echo` and `triage` through a real `sandbox serve` process, with metrics and the audit trail on and off.
//
// Each measurement starts `node bin/sandbox.js serve <topology> --ingest <file> --topic <t> --once` (the memory
// queue, fed from the same process) and reads the throughput line serve prints when it stops: messages from
// the first delivery to the last settlement. "on" adds `--metrics-port 0 --audit-log <tmp>` (and this process
// scrapes /metrics every second, as Prometheus would); the audit file must then hold one line per record.
// Modes alternate within a round and the best of the rounds counts (the machine is shared).
// Run alone: `npm run bench -- swarm-serve [echoRecords] [triageRecords] [rounds]`; bench/swarm.ts runs it too.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { agentPath, repoRoot, requireBuilt } from '../test/support/paths.ts';
import { triageRecords } from './_triage-records.ts';

export type ServeMode = 'off' | 'metrics' | 'audit' | 'on';
export const SERVE_MODES: readonly ServeMode[] = ['off', 'metrics', 'audit', 'on'];

export interface ServeRun {
  agent: 'echo' | 'triage';
  mode: ServeMode;
  records: number;
  messages: number;
  seconds: number;
  perSec: number;
  peakRssMB: number;
  auditLines: number | null;
  scrapes: number;
}

export interface SwarmServeFigures {
  /** Best runs/s with metrics and audit on. */
  echoPerSec: number;
  triagePerSec: number;
  /** Best runs/s by agent and mode. */
  best: Record<'echo' | 'triage', Record<ServeMode, number>>;
  /** Peak RSS of serve after 10,000 echo messages with metrics and audit on. */
  rss10kTasksMB: number;
  echo10kPerSec: number;
  runs: ServeRun[];
}

/** What a Python audit engine of this kind publishes (the issue's reference figures). */
export const PYTHON_REFERENCE = { noopTasksPerSec: 23_696, rssMBAt10kTasks: 45.6 };

const BIN = join(repoRoot, 'bin', 'sandbox.js');

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The sample's well-formed log records, repeated with advancing timestamps. */
function triageLines(n: number): string {
  return `${triageRecords(n)
    .map((r) => JSON.stringify(r))
    .join('\n')}\n`;
}

function echoLines(n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(JSON.stringify({ i, note: 'no-op' }));
  return `${out.join('\n')}\n`;
}

interface Workload {
  agent: 'echo' | 'triage';
  yaml: string;
  input: string;
  topic: string;
  records: number;
}

function prepare(dir: string, agent: 'echo' | 'triage', records: number, tag = ''): Workload {
  const yaml = join(dir, `${agent}${tag}.yaml`);
  const input = join(dir, `${agent}${tag}.ndjson`);
  if (agent === 'echo') {
    // Two instances, one per core: echo keeps no state.
    writeFileSync(
      yaml,
      `queue: memory\ndeadLetter: dead-letter\nagents:\n  - name: echo\n    module: ${JSON.stringify(requireBuilt(agentPath('echo')))}\n    subscribe: [in.>]\n    concurrency: 2\n`,
    );
    writeFileSync(input, echoLines(records));
    return { agent, yaml, input, topic: 'in.x', records };
  }
  // The example topology as shipped (one instance: triage keeps per-service burst windows), module made absolute.
  const example = readFileSync(join(repoRoot, 'examples', 'sandbox.yaml'), 'utf8').replace(
    /module: \S+/,
    `module: ${JSON.stringify(requireBuilt(agentPath('triage')))}`,
  );
  writeFileSync(yaml, example);
  writeFileSync(input, triageLines(records));
  return { agent, yaml, input, topic: 'logs.app', records };
}

async function serveOnce(w: Workload, mode: ServeMode, dir: string): Promise<ServeRun> {
  const audit = join(dir, `audit-${w.agent}-${mode}.ndjson`);
  rmSync(audit, { force: true });
  const args = [BIN, 'serve', w.yaml, '--ingest', w.input, '--topic', w.topic, '--once'];
  if (mode === 'metrics' || mode === 'on') args.push('--metrics-port', '0');
  if (mode === 'audit' || mode === 'on') args.push('--audit-log', audit);
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  let scrapes = 0;
  if (mode === 'metrics' || mode === 'on') {
    // Scrape every second while it runs, as Prometheus would.
    void (async () => {
      let url: string | undefined;
      while (!done) {
        url ??= /metrics on (http:\/\/\S+\/metrics)/.exec(stderr)?.[1];
        if (url !== undefined) {
          try {
            await (await fetch(url)).text();
            scrapes++;
          } catch {
            // it may have stopped between the check and the request
          }
          await sleep(1000);
        } else await sleep(20);
      }
    })();
  }
  const code = await exited;
  if (code !== 0) throw new Error(`sandbox serve (${w.agent}, ${mode}) exited with ${code}:\n${stderr}`);
  const m = /throughput: (\d+) messages in ([\d.]+) s .*?; peak RSS ([\d.]+) MB/.exec(stderr);
  if (m === null) throw new Error(`sandbox serve (${w.agent}, ${mode}) printed no throughput line:\n${stderr}`);
  const messages = Number(m[1]);
  const seconds = Number(m[2]);
  if (messages < w.records)
    throw new Error(`${w.agent} ${mode}: ${messages} messages handled, expected at least ${w.records}:\n${stderr}`);
  let auditLines: number | null = null;
  if (mode === 'audit' || mode === 'on') {
    const text = readFileSync(audit, 'utf8');
    auditLines = text.length === 0 ? 0 : text.trimEnd().split('\n').length;
    // One line per run: every record ran at least once, and a retried record has a line per delivery.
    if (auditLines !== messages)
      throw new Error(`${w.agent} ${mode}: ${auditLines} audit lines for ${messages} messages`);
    rmSync(audit, { force: true });
  }
  return {
    agent: w.agent,
    mode,
    records: w.records,
    messages,
    seconds,
    perSec: Math.round(messages / seconds),
    peakRssMB: Number(m[3]),
    auditLines,
    scrapes,
  };
}

export async function benchSwarmServe(
  options: { echoRecords?: number; triageRecords?: number; rounds?: number; log?: (line: string) => void } = {},
): Promise<SwarmServeFigures> {
  const log = options.log ?? ((line: string) => console.error(line));
  const dir = mkdtempSync(join(tmpdir(), 'swarm-serve-'));
  try {
    const workloads = [
      prepare(dir, 'echo', options.echoRecords ?? 200_000),
      prepare(dir, 'triage', options.triageRecords ?? 100_000),
    ];
    const runs: ServeRun[] = [];
    const best = { echo: { off: 0, metrics: 0, audit: 0, on: 0 }, triage: { off: 0, metrics: 0, audit: 0, on: 0 } };
    const rounds = options.rounds ?? 2;
    for (let round = 0; round < rounds; round++) {
      for (const w of workloads) {
        for (const mode of SERVE_MODES) {
          const r = await serveOnce(w, mode, dir);
          runs.push(r);
          best[w.agent][mode] = Math.max(best[w.agent][mode], r.perSec);
          log(
            `  round ${round + 1}: ${w.agent} ${mode.padEnd(7)} ${r.perSec.toLocaleString('en-US').padStart(9)} runs/s (${r.messages} in ${r.seconds.toFixed(2)} s, peak RSS ${r.peakRssMB.toFixed(0)} MB${r.scrapes > 0 ? `, ${r.scrapes} scrapes` : ''})`,
          );
        }
      }
    }
    // The reference's RSS is at 10,000 tasks: the same workload, 10,000 records, everything on.
    const small = await serveOnce(prepare(dir, 'echo', 10_000, '-10k'), 'on', dir);
    return {
      echoPerSec: best.echo.on,
      triagePerSec: best.triage.on,
      best,
      rss10kTasksMB: small.peakRssMB,
      echo10kPerSec: small.perSec,
      runs,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The human table for the figures: each mode beside "off", and the reference row. */
export function formatSwarmServe(f: SwarmServeFigures): string {
  const fmt = (n: number) => n.toLocaleString('en-US');
  const lines = [
    '',
    '| agent | metrics+audit off | metrics only | audit only | metrics+audit on | on / off |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const agent of ['echo', 'triage'] as const) {
    const b = f.best[agent];
    lines.push(
      `| ${agent} (runs/s through sandbox serve) | ${fmt(b.off)} | ${fmt(b.metrics)} (${(b.metrics / b.off).toFixed(2)}×) | ${fmt(b.audit)} (${(b.audit / b.off).toFixed(2)}×) | ${fmt(b.on)} | ${(b.on / b.off).toFixed(2)}× |`,
    );
  }
  lines.push('', '| compared with | no-op tasks/s | RSS at 10,000 tasks |', '|---|---:|---:|');
  lines.push(
    `| Python audit engine (published) | ${fmt(PYTHON_REFERENCE.noopTasksPerSec)} | ${PYTHON_REFERENCE.rssMBAt10kTasks} MB |`,
  );
  lines.push(
    `| sandbox serve, echo, metrics+audit on | ${fmt(f.echoPerSec)} (${(f.echoPerSec / PYTHON_REFERENCE.noopTasksPerSec).toFixed(1)}×) | ${f.rss10kTasksMB.toFixed(1)} MB (${(f.rss10kTasksMB / PYTHON_REFERENCE.rssMBAt10kTasks).toFixed(1)}×; whole process: Node, 2 worker threads, V8) |`,
  );
  return lines.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [echoRecords, triageRecords, rounds] = process.argv.slice(2).map(Number);
  const f = await benchSwarmServe({
    ...(echoRecords ? { echoRecords } : {}),
    ...(triageRecords ? { triageRecords } : {}),
    ...(rounds ? { rounds } : {}),
  });
  console.log(formatSwarmServe(f));
  console.log(
    JSON.stringify({
      suite: 'swarm-serve',
      echoPerSec: f.echoPerSec,
      triagePerSec: f.triagePerSec,
      best: f.best,
      rss10kTasksMB: f.rss10kTasksMB,
      reference: PYTHON_REFERENCE,
    }),
  );
}

// `sandbox demo`: the triage agent over the sample log file, through the memory queue and a dispatcher; prints what it found.
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { decode } from '../codec.ts';
import { DEAD_LETTER_HEADERS } from '../queue/types.ts';
import { startSwarm } from '../swarm/index.ts';
import { loadTopology } from '../swarm/topology.ts';
import { ingestFile, LINE_HEADER } from './ingest.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type Command } from './io.ts';
import { reportError } from './publish.ts';

export const DEMO_HELP = `Usage: sandbox demo [--logs <file.ndjson>]

Runs the triage agent (agents/build/triage.wasm) over a log file (default
examples/logs.ndjson) the way 'sandbox serve examples/sandbox.yaml' would: lines go
onto topic logs.app of the memory queue, a dispatcher runs triage once per record and
publishes its alerts only for successful runs, and rejected records are retried and
then dead-lettered. Prints the severities, the alerts by service, the bursts and the
lines that could not be used. The installed package ships the agent and the examples; in a
checkout, build the agents first ('npm run build:agents').`;

/** The checkout's root: two levels above this file in the sources, three in dist/. */
function findRoot(): string | undefined {
  for (const up of ['../..', '../../..']) {
    const dir = fileURLToPath(new URL(`${up}/`, import.meta.url));
    if (existsSync(join(dir, 'examples', 'sandbox.yaml'))) return dir;
  }
  return undefined;
}

interface Alert {
  service: string;
  severity: string;
  ts: number;
  reason: string;
  count?: number;
}

export const demo: Command = async (argv, io) => {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { logs: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (error) {
    io.stderr.write(`sandbox demo: ${(error as Error).message}\n\n${DEMO_HELP}\n`);
    return EXIT_USAGE;
  }
  if (values.help) {
    io.stdout.write(`${DEMO_HELP}\n`);
    return EXIT_OK;
  }
  const root = findRoot();
  if (root === undefined) {
    io.stderr.write(
      'sandbox demo: examples/sandbox.yaml not found next to the package (the installed package and a checkout both have it)\n',
    );
    return EXIT_FAILED;
  }
  const logs = values.logs === undefined ? join(root, 'examples', 'logs.ndjson') : join(io.cwd, values.logs);
  const shown = relative(io.cwd, logs) || logs;
  const severities = new Map<string, number>();
  const alerts: Alert[] = [];
  const rejected: { line: string; reason: string }[] = [];
  try {
    const topology = await loadTopology(join(root, 'examples', 'sandbox.yaml'));
    const started = Date.now();
    const swarm = await startSwarm(topology, {
      onRun: (_agent, _message, result) => {
        const severity = (result.output as { severity?: unknown } | null)?.severity;
        if (result.status === 'ok' && typeof severity === 'string')
          severities.set(severity, (severities.get(severity) ?? 0) + 1);
      },
    });
    try {
      const alertSub = await swarm.queue.subscribe('alerts.>', (m) => {
        alerts.push(decode(m.payload) as Alert);
      });
      const deadSub = await swarm.queue.subscribe(topology.deadLetter, (m) => {
        rejected.push({ line: m.headers[LINE_HEADER] ?? '?', reason: m.headers[DEAD_LETTER_HEADERS.reason] ?? '' });
      });
      const malformed: { line: number; reason: string }[] = [];
      const ingest = await ingestFile(swarm.queue, logs, {
        topic: 'logs.app',
        signal: io.signal,
        onMalformed: (line, reason) => malformed.push({ line, reason: reason.replace(/^line \d+: /, '') }),
      });
      await swarm.dispatcher.whenIdle(100, io.signal);
      await alertSub.close();
      await deadSub.close();
      await swarm.stop();
      const seconds = (Date.now() - started) / 1000;
      const stats = swarm.dispatcher.stats()[0]!;
      const runs = Object.values(stats.runs).reduce((a, b) => a + (b ?? 0), 0);

      const out: string[] = [];
      out.push(`triage over ${shown}: ${ingest.lines} lines through the memory queue in ${seconds.toFixed(2)} s`);
      out.push('');
      out.push(
        `records    ${ingest.published} published to logs.app; ${ingest.malformed} malformed lines skipped${ingest.blank > 0 ? `, ${ingest.blank} blank` : ''}`,
      );
      for (const m of malformed.slice(0, 8)) out.push(`             line ${m.line}: ${m.reason}`);
      const order = ['critical', 'high', 'medium', 'low'];
      out.push(`severity   ${order.map((s) => `${s} ${severities.get(s) ?? 0}`).join('   ')}`);
      const regular = alerts.filter((a) => a.count === undefined);
      const byService = new Map<string, { n: number; critical: number }>();
      for (const a of regular) {
        const e = byService.get(a.service) ?? { n: 0, critical: 0 };
        e.n++;
        if (a.severity === 'critical') e.critical++;
        byService.set(a.service, e);
      }
      const services = [...byService.entries()].sort((a, b) => b[1].n - a[1].n);
      out.push(`alerts     ${regular.length} on alerts.<service>:`);
      for (const [service, e] of services)
        out.push(
          `             ${service.padEnd(14)} ${String(e.n).padStart(3)}${e.critical > 0 ? `  (${e.critical} critical)` : ''}`,
        );
      const bursts = alerts.filter((a) => a.count !== undefined);
      out.push(
        `bursts     ${bursts.length === 0 ? 'none' : `${bursts.length} (5 errors of one service within 60 s):`}`,
      );
      for (const b of bursts)
        out.push(`             ${b.service.padEnd(14)} at ${new Date(Number(b.ts)).toISOString().slice(11, 19)} UTC`);
      out.push(
        `rejected   ${rejected.length} records triage refused, dead-lettered after ${topology.agents[0]!.maxDeliveries} deliveries${rejected.length > 0 ? ':' : ''}`,
      );
      for (const r of rejected.slice(0, 8))
        out.push(
          `             line ${r.line}: ${r.reason.replace(/^triage: \w[\w-]*: (triage: )?/, '').replace(/ \(after \d+ deliveries\)$/, '')}`,
        );
      const byStatus = Object.entries(stats.runs)
        .map(([s, n]) => `${n} ${s}`)
        .join(', ');
      out.push(
        `runs       ${runs} (${byStatus}); ${stats.eventsPublished} events published, ${stats.acked} messages acked`,
      );
      io.stdout.write(`${out.join('\n')}\n`);
      return EXIT_OK;
    } finally {
      await swarm.stop();
    }
  } catch (error) {
    return reportError('demo', error, io);
  }
};

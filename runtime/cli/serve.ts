// `sandbox serve sandbox.yaml`: runs a topology's agents on its queue until SIGINT/SIGTERM, then drains and exits.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { relative, resolve } from 'node:path';
import type { EngineChoice } from '../agent/types.ts';
import { runChannel, type RunChannelMessage } from '../channels.ts';
import { AuditLog } from '../ops/audit-log.ts';
import type { DashboardServer } from '../ops/dashboard-server.ts';
import { DashboardState } from '../ops/dashboard-state.ts';
import type { SwarmMetrics } from '../ops/metrics.ts';
import { loadWithOptional } from '../queue/optional.ts';
import { bucketServers, resolveClusterConfig } from '../cluster/config.ts';
import type { ClusterNode } from '../cluster/node.ts';
import { createQueue, parseQueueUrl } from '../queue/index.ts';
import type { KafkaQueue } from '../queue/kafka.ts';
import type { QueueBackend, Subscription } from '../queue/types.ts';
import { subscriptionGroup, type AgentStats, type DispatcherSpan } from '../swarm/dispatcher.ts';
import { defaultWorkers, startSwarm, type Swarm } from '../swarm/index.ts';
import { loadTopology } from '../swarm/topology.ts';
import { parseBytes, parseCommandArgs, parseCount, reportUsage, UsageError } from './args.ts';
import { FailureReasons } from './failure-reasons.ts';
import { ingestWithReport } from './ingest.ts';
import { EXIT_OK, type Command } from './io.ts';
import { reportError } from './publish.ts';
import { formatMessage } from './tail.ts';

export const SERVE_HELP = `Usage: sandbox serve <sandbox.yaml> [options]

Loads the topology's agents, subscribes them to their patterns and runs one agent run
per message until SIGINT or SIGTERM; then stops taking messages, lets the runs in
flight finish (their events are published and their messages acked), closes the
queue and prints a summary. See docs/topology.md for the file's format.

Feeding it from the same process (what the memory queue needs):
  --ingest <file.ndjson>  stream this file's JSON lines onto --topic once serving
  --topic <topic>         the topic for --ingest
  --key <field>           a record field to use as the message key
  --dead-letter           dead-letter malformed lines instead of skipping them
  --once                  after --ingest, stop as soon as the agents are idle
                          (nothing running, nothing waiting for a retry)

Watching:
  --tail <pattern>        print every message on matching topics, e.g. 'alerts.>'

Operations (docs/operations.md):
  --metrics-port <n>      serve Prometheus metrics at http://127.0.0.1:<n>/metrics
                          (0 picks a free port; the chosen one is printed)
  --audit-log <file>      append one NDJSON line per run, and per message parked by a
                          quarantine (lines are group-committed: one write per batch,
                          each message acked only after its line is written)
  --audit-max-size <size> rotate the audit log at this size (default 64MiB)
  --audit-keep <n>        rotated audit files kept (default 5)
  --trace                 trace each message and run: continue its W3C traceparent header
                          (or start a trace), put it on the events agents publish, and
                          publish spans on the diagnostics channel sandbox:trace:span
  --dashboard <n>         serve a live web page at http://127.0.0.1:<n>/: per-agent rates and
                          states, run-time percentiles, queue lag, quarantines, residency and
                          the latest dead letters with their reasons (0 picks a free port)
  --dashboard-host <addr> bind the dashboard here instead (it has no login: keep it private)

  --engine <name>         auto (default), wasm (V8) or emulator (TypeScript)
  --json                  print the summary (per agent: runs by status, top failure reasons;
                          throughput) as one JSON object on stdout, and errors as {"error": ...}

Cluster mode (a \`cluster:\` section; docs/cluster.md): the per-key agents are shared with
every other \`sandbox serve\` of the same file on the same NATS: this process takes the
partitions rendezvous hashing gives it; SIGTERM drains them, commits and hands them
over. On a kafka:// queue the consumer group assigns the Kafka topic's partitions and
cluster.nats names the NATS servers of the state bucket. SANDBOX_NODE_ID sets the node
id. \`sandbox cluster status <sandbox.yaml>\` shows it.

Exit codes: 0 stopped cleanly, 1 a failure while serving, 2 usage error or an
invalid topology.`;

export function formatStats(s: AgentStats): string {
  const total = Object.values(s.runs).reduce((a, b) => a + (b ?? 0), 0);
  const byStatus = Object.entries(s.runs)
    .map(([status, n]) => `${n} ${status}`)
    .join(', ');
  const keys = s.keys === undefined ? '' : `, ${s.keys} keys`;
  return `${s.name}: ${total} runs${total > 0 ? ` (${byStatus})` : ''}, ${s.eventsPublished} events published, ${s.acked} acked, ${s.retried} retried, ${s.deadLettered} dead-lettered${keys}`;
}

/** The throughput line of serve's summary (bench/swarm-serve.ts reads it): messages handled from the first
 *  delivery to the last settlement, and the process's peak RSS. */
export function formatSpan(span: DispatcherSpan): string {
  const rss = `peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(1)} MB`;
  if (span.firstAt === null || span.lastAt === null) return `throughput: no messages; ${rss}`;
  const seconds = Math.max(1e-6, (span.lastAt - span.firstAt) / 1000);
  return `throughput: ${span.messages} messages in ${seconds.toFixed(3)} s from the first delivery to the last settlement (${Math.round(span.messages / seconds)}/s); ${rss}`;
}

/** Resolves when the signal aborts. A timer holds the process open meanwhile: with the memory queue and idle
 *  workers nothing else would, and Node would exit with the wait unfinished. */
export function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const keepAlive = setInterval(() => {}, 1 << 30);
    signal.addEventListener(
      'abort',
      () => {
        clearInterval(keepAlive);
        resolve();
      },
      { once: true },
    );
  });
}

export const serve: Command = async (argv, io) => {
  const parsed = parseCommandArgs(
    'serve',
    argv,
    {
      ingest: { type: 'string' },
      topic: { type: 'string', short: 't' },
      key: { type: 'string' },
      'dead-letter': { type: 'boolean' },
      once: { type: 'boolean' },
      tail: { type: 'string' },
      engine: { type: 'string' },
      'metrics-port': { type: 'string' },
      'audit-log': { type: 'string' },
      'audit-max-size': { type: 'string' },
      'audit-keep': { type: 'string' },
      dashboard: { type: 'string' },
      'dashboard-host': { type: 'string' },
      trace: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    SERVE_HELP,
    io,
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  let swarm: Swarm | undefined;
  let tailSub: Subscription | undefined;
  let queue: QueueBackend | undefined;
  let metrics: SwarmMetrics | undefined;
  let metricsServer: { close(): Promise<void> } | undefined;
  let serveMetrics: typeof import('../ops/metrics.ts').serveMetrics | undefined;
  let auditLog: AuditLog | undefined;
  let cluster: ClusterNode | undefined;
  let dashboardServer: DashboardServer | undefined;
  let deadLetterSub: Subscription | undefined;
  let unsubscribeRuns: (() => void) | undefined;
  const failures = new FailureReasons();
  try {
    if (positionals.length !== 1) throw new UsageError('which topology? give the path of a sandbox.yaml');
    if (values.ingest !== undefined && values.topic === undefined) throw new UsageError('--ingest needs --topic');
    if (values.ingest === undefined && (values.topic !== undefined || values.once))
      throw new UsageError('--topic and --once go with --ingest');
    const engine = (values.engine ?? 'auto') as EngineChoice;
    if (!['auto', 'wasm', 'emulator'].includes(engine))
      throw new UsageError(`--engine must be auto, wasm or emulator, got ${JSON.stringify(values.engine)}`);
    const metricsPort =
      values['metrics-port'] === undefined ? undefined : parseCount('--metrics-port', values['metrics-port']);
    if (metricsPort !== undefined && metricsPort > 65535)
      throw new UsageError(`--metrics-port must be at most 65535, got ${metricsPort}`);
    const dashboardPort = values.dashboard === undefined ? undefined : parseCount('--dashboard', values.dashboard);
    if (dashboardPort !== undefined && dashboardPort > 65535)
      throw new UsageError(`--dashboard must be at most 65535, got ${dashboardPort}`);
    if (values['dashboard-host'] !== undefined && dashboardPort === undefined)
      throw new UsageError('--dashboard-host goes with --dashboard');
    const auditMaxBytes =
      values['audit-max-size'] === undefined ? undefined : parseBytes('--audit-max-size', values['audit-max-size']);
    const auditKeep = values['audit-keep'] === undefined ? undefined : parseCount('--audit-keep', values['audit-keep']);
    const topology = await loadTopology(resolve(io.cwd, positionals[0]!));
    if (values['audit-log'] !== undefined) {
      auditLog = new AuditLog({
        file: resolve(io.cwd, values['audit-log']),
        batch: true,
        ...(auditMaxBytes !== undefined ? { maxBytes: auditMaxBytes } : {}),
        ...(auditKeep !== undefined ? { keep: auditKeep } : {}),
      });
    }
    // The same default as startSwarm's, made explicit so the metrics can report the worker count.
    const workers = defaultWorkers(topology);
    const clusterConfig = topology.cluster === undefined ? undefined : resolveClusterConfig(topology.cluster);
    const queueConfig = parseQueueUrl(topology.queue);
    queue = await createQueue(
      clusterConfig === undefined
        ? topology.queue
        : queueConfig.kind === 'nats'
          ? { ...queueConfig, partitions: clusterConfig.partitions, replicas: clusterConfig.replicas }
          : queueConfig.kind === 'kafka'
            ? // The topics it creates get the cluster's partitions: a key's partition is the same in each.
              { ...queueConfig, partitions: clusterConfig.partitions }
            : topology.queue,
    );
    // Dead letters name the subscription's group (the cluster's consumers name the agent's own group).
    const agentOfGroup = new Map<string, string>();
    for (const a of topology.agents) {
      agentOfGroup.set(a.group, a.name);
      a.subscribe.forEach((_, i) => agentOfGroup.set(subscriptionGroup(a, i), a.name));
    }
    if (metricsPort !== undefined || dashboardPort !== undefined) {
      // prom-client is optional: only --metrics-port and --dashboard (which reads the same metrics) need it.
      const ops = await loadWithOptional(
        () => import('../ops/metrics.ts'),
        'prom-client',
        metricsPort !== undefined ? '--metrics-port' : '--dashboard',
      );
      serveMetrics = ops.serveMetrics;
      // It counts runs from the `sandbox:swarm:run` channel and reads the rest from the dispatcher at scrape time.
      metrics = new ops.SwarmMetrics();
    }
    let dashboard: DashboardState | undefined;
    if (dashboardPort !== undefined) {
      dashboard = new DashboardState({
        metrics: metrics!,
        // Filled in once the swarm runs; until then the page has no agents to show.
        stats: () => swarm?.dispatcher.stats() ?? [],
        quarantined: () => swarm?.dispatcher.quarantined() ?? [],
        ...(topology.hibernation ? { residency: () => swarm!.sandbox.residency() } : {}),
        workers,
        workerRestarts: () => swarm?.sandbox.workerRestarts ?? 0,
        agentOfGroup: (group) => agentOfGroup.get(group),
      });
      // Subscribed before the agents, so no dead letter of theirs is missed (a private subscription sees what
      // is published after it starts).
      const d = dashboard;
      deadLetterSub = await queue.subscribe(topology.deadLetter, (message) => {
        d.addDeadLetter(message);
      });
    }
    const audit = auditLog;
    // Failure reasons for the summary come from the run channel too. Until startSwarm returns the dispatcher is
    // not known, and every swarm's runs count (a second swarm in this process would have to be starting as well).
    const countFailure = (message: unknown): void => {
      const m = message as RunChannelMessage;
      if (swarm === undefined || m.dispatcher === swarm.dispatcher) failures.record(m.agent, m.result);
    };
    subscribe(runChannel.name, countFailure);
    unsubscribeRuns = () => unsubscribe(runChannel.name, countFailure);
    // In cluster mode the per-key agents run on the partitions this node owns, not on the queue's groups.
    const clustered = clusterConfig === undefined ? [] : topology.agents.filter((a) => a.instances === 'per-key');
    swarm = await startSwarm(
      { ...topology, agents: topology.agents.filter((a) => !clustered.includes(a)) },
      {
        engine,
        workers,
        queue,
        ...(values.trace === true ? { tracing: true } : {}),
        // The audit line's message id is hashed in the workers, which are mostly idle, not on this thread.
        ...(audit ? { inputDigests: true } : {}),
        // Nothing here reads a run's output (the audit, metrics and failure reasons read its status and figures).
        discardOutputs: true,
        // onRun is the audit trail only: the dispatcher awaits what it returns before it settles the message, so a
        // line is in the file before its ack (the audit log resolves it once the line's batch is written).
        ...(audit
          ? {
              onRun: (agent, message, result) => audit.record(agent, message, result),
              onParked: (agent, message, topic) => audit.recordParked(agent, message, topic),
            }
          : {}),
      },
    );
    if (clusterConfig !== undefined) {
      const { ClusterNode } = await import('../cluster/node.ts');
      const log = (message: string) => io.stderr.write(`${message}\n`);
      const kafka =
        queueConfig.kind === 'kafka'
          ? await (
              await import('../cluster/kafka-source.ts')
            ).kafkaSourceFor(
              queue as KafkaQueue,
              typeof queueConfig.brokers === 'string' ? queueConfig.brokers.split(',') : queueConfig.brokers,
              clusterConfig,
              clustered,
              topology.deadLetter,
              log,
            )
          : undefined;
      cluster = await ClusterNode.start({
        config: clusterConfig,
        servers: bucketServers(clusterConfig, topology.queue),
        stream: 'SANDBOX',
        prefix: 'sandbox',
        deadLetter: topology.deadLetter,
        agents: clustered,
        sandbox: swarm.sandbox,
        log,
        ...(kafka !== undefined ? { source: () => kafka } : {}),
      });
      io.stderr.write(
        `cluster: node ${clusterConfig.node} in bucket ${clusterConfig.bucket} (${clusterConfig.partitions} partitions${kafka !== undefined ? `, Kafka topic ${kafka.topic}` : ''})\n`,
      );
    }
    if (auditLog !== undefined && auditLog.repairedBytes > 0) {
      io.stderr.write(
        `audit log: cut a partial last line (${auditLog.repairedBytes} bytes) left by an earlier kill; its message was never acked\n`,
      );
    }
    if (metrics !== undefined) {
      const sw = swarm;
      metrics.attach({
        dispatcher: sw.dispatcher,
        stats: () => sw.dispatcher.stats(),
        lags: () => sw.dispatcher.lags(),
        workerRestarts: () => sw.sandbox.workerRestarts,
        workers,
        residency: () => sw.sandbox.residency(),
      });
    }
    if (metrics !== undefined && metricsPort !== undefined) {
      const served = await serveMetrics!(metrics, metricsPort);
      metricsServer = served;
      io.stderr.write(`metrics on http://127.0.0.1:${served.port}/metrics\n`);
    }
    if (dashboard !== undefined) {
      const { serveDashboard } = await import('../ops/dashboard-server.ts');
      dashboardServer = await serveDashboard(dashboard, {
        port: dashboardPort!,
        ...(values['dashboard-host'] !== undefined ? { host: values['dashboard-host'] } : {}),
      });
      io.stderr.write(`dashboard on ${dashboardServer.url}\n`);
    }
    if (auditLog !== undefined) io.stderr.write(`audit log: ${values['audit-log']}\n`);
    io.stderr.write(`serving ${positionals[0]} on ${topology.queue} (dead letters → ${topology.deadLetter})\n`);
    if (topology.hibernation !== undefined) {
      const h = topology.hibernation;
      const opts = [
        h.maxResident !== undefined ? `maxResident ${h.maxResident}` : '',
        h.idleMs !== undefined ? `idleMs ${h.idleMs}` : '',
        h.checkpointMs !== undefined ? `checkpointMs ${h.checkpointMs}` : '',
      ].filter(Boolean);
      const shown = relative(io.cwd, h.store);
      io.stderr.write(
        `  hibernation: ${shown.startsWith('..') ? h.store : shown || '.'}${opts.length > 0 ? ` (${opts.join(', ')})` : ''}\n`,
      );
    }
    for (const a of topology.agents) {
      const instances =
        a.instances !== 'per-key'
          ? `concurrency ${a.concurrency}`
          : clustered.includes(a)
            ? 'one instance per key, clustered'
            : 'one instance per key';
      io.stderr.write(
        `  agent ${a.name}: ${relative(io.cwd, a.module)} ← ${a.subscribe.join(', ')} (group ${a.group}, ${instances}, maxDeliveries ${a.maxDeliveries})\n`,
      );
    }
    if (values.tail !== undefined) {
      tailSub = await swarm.queue.subscribe(values.tail, (m) => {
        io.stdout.write(`${formatMessage(m)}\n`);
      });
    }
    if (values.ingest !== undefined) {
      const stats = await ingestWithReport(
        swarm.queue,
        resolve(io.cwd, values.ingest),
        {
          topic: values.topic!,
          keyField: values.key,
          deadLetter: values['dead-letter'] ? topology.deadLetter : undefined,
        },
        io,
        values.ingest,
      );
      if (values.once && !stats.aborted) await swarm.dispatcher.whenIdle(200, io.signal);
    }
    if (!values.once) {
      io.stderr.write(`running; Ctrl-C (SIGINT) or SIGTERM stops it\n`);
      await untilAborted(io.signal);
      io.stderr.write(`stopping: draining runs in flight\n`);
    }
    await tailSub?.close();
    tailSub = undefined;
    const c = cluster;
    cluster = undefined;
    // Drains, commits and releases its partitions first, so the next owners start at once.
    await c?.stop({ graceful: true });
    await dashboardServer?.close();
    dashboardServer = undefined;
    const s = swarm;
    swarm = undefined;
    await s.stop();
    await deadLetterSub?.close();
    deadLetterSub = undefined;
    await queue.close();
    queue = undefined;
    const agents = s.dispatcher.stats();
    for (const stats of agents) {
      io.stderr.write(`${formatStats(stats)}\n`);
      const top = failures.top(stats.name);
      if (top.length > 0) io.stderr.write(`  top failures: ${top.map((f) => `${f.count}× ${f.reason}`).join('; ')}\n`);
    }
    io.stderr.write(`${formatSpan(s.dispatcher.span())}\n`);
    if (c !== undefined) {
      const k = c.counts;
      io.stderr.write(
        `cluster: ${k.applied} applied, ${k.skipped} skipped as already applied, ${k.fenced} refused by the fence, ${k.deadLettered} dead-lettered, ${k.eventsPublished} events published${k.regressions > 0 ? `, ${k.regressions} committed writes found lost` : ''}\n`,
      );
    }
    if (values.json === true) {
      const span = s.dispatcher.span();
      const seconds = span.firstAt === null || span.lastAt === null ? 0 : (span.lastAt - span.firstAt) / 1000;
      const summary = {
        agents: agents.map((a) => ({ ...a, topFailures: failures.top(a.name) })),
        ...(c !== undefined ? { cluster: { node: c.node, ...c.summary() } } : {}),
        throughput: {
          messages: span.messages,
          seconds,
          perSecond: seconds > 0 ? Math.round(span.messages / seconds) : 0,
        },
      };
      io.stdout.write(`${JSON.stringify(summary)}\n`);
    }
    return EXIT_OK;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR') {
      return reportUsage(
        'serve',
        `${code === 'EISDIR' ? 'is a directory' : 'no such file'}: ${values.ingest}`,
        io,
        values.json === true,
      );
    }
    return reportError('serve', error, io, values.json === true);
  } finally {
    await cluster?.stop({ graceful: false });
    await dashboardServer?.close();
    await tailSub?.close();
    await swarm?.stop();
    await deadLetterSub?.close();
    await queue?.close();
    await metricsServer?.close();
    metrics?.close();
    auditLog?.close();
    unsubscribeRuns?.();
  }
};

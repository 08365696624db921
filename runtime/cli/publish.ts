// `sandbox publish <topic> <json>`: publishes one MessagePack-encoded message; also how queue commands pick their queue.
import { resolve } from 'node:path';
import { encode } from '../codec.ts';
import { DEFAULT_PARTITIONS } from '../cluster/partitioner.ts';
import { createQueue, parseQueueUrl } from '../queue/index.ts';
import type { QueueBackend } from '../queue/types.ts';
import { loadTopology } from '../swarm/topology.ts';
import { parseCommandArgs, parseJson, UsageError } from './args.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type CliIO, type Command } from './io.ts';

export const QUEUE_OPTIONS_HELP = `Queue (one of):
  --queue <url>           memory (default), nats://host:port or kafka://host:port
  --config <sandbox.yaml> the queue named in a topology file
  The memory queue lives inside one process: on its own this command reaches no
  subscriber. Use 'sandbox serve sandbox.yaml --ingest <file> --topic <t>' to feed a
  served memory topology, or point --queue at NATS or Kafka.`;

export const PUBLISH_HELP = `Usage: sandbox publish <topic> <json> [options]

Publishes one message: the JSON value, encoded as MessagePack (what agents take).

  --key <key>             messages with one key are delivered in order
  --header <name=value>   a header (repeatable)

${QUEUE_OPTIONS_HELP}

Exit codes: 0 published, 1 the queue failed, 2 usage error.`;

export const QUEUE_PARSE_OPTIONS = {
  queue: { type: 'string' },
  config: { type: 'string' },
} as const;

/** The queue URL from --queue or --config (default memory), and the dead-letter topic a --config names. */
export async function resolveQueue(
  values: { queue?: string | undefined; config?: string | undefined },
  io: CliIO,
): Promise<{ url: string; deadLetter?: string; partitions?: number }> {
  if (values.queue !== undefined && values.config !== undefined)
    throw new UsageError('give --queue or --config, not both');
  if (values.config !== undefined) {
    const topology = await loadTopology(resolve(io.cwd, values.config));
    // A clustered topology's keyed messages go to their partition's subjects (docs/cluster.md).
    const partitions = topology.cluster === undefined ? undefined : (topology.cluster.partitions ?? DEFAULT_PARTITIONS);
    return partitions === undefined
      ? { url: topology.queue, deadLetter: topology.deadLetter }
      : { url: topology.queue, deadLetter: topology.deadLetter, partitions };
  }
  return { url: values.queue ?? 'memory' };
}

export async function openQueue(
  values: { queue?: string | undefined; config?: string | undefined },
  io: CliIO,
): Promise<{ queue: QueueBackend; deadLetter?: string }> {
  const { url, deadLetter, partitions } = await resolveQueue(values, io);
  const parsed = parseQueueUrl(url);
  // NATS: keyed messages go to partition subjects. Kafka: topics this creates get the cluster's partition count
  // (serve refuses a Kafka topic with another count).
  const queue = await createQueue(
    partitions !== undefined && (parsed.kind === 'nats' || parsed.kind === 'kafka') ? { ...parsed, partitions } : url,
  );
  return deadLetter === undefined ? { queue } : { queue, deadLetter };
}

/** Exit code for an error thrown by a queue command: usage for bad input, failure for the rest. */
export function reportError(command: string, error: unknown, io: CliIO, json = false): number {
  const code = error instanceof UsageError ? 'SANDBOX_USAGE' : ((error as { code?: string }).code ?? 'SANDBOX_FAILED');
  const exit =
    code === 'SANDBOX_USAGE' || code === 'SANDBOX_INVALID_OPTIONS' || code === 'SANDBOX_MISSING_DEPENDENCY'
      ? EXIT_USAGE
      : EXIT_FAILED;
  if (json) {
    io.stdout.write(`${JSON.stringify({ error: { code, message: (error as Error).message } })}\n`);
    return exit;
  }
  io.stderr.write(`sandbox ${command}: ${(error as Error).message}\n`);
  if (error instanceof UsageError) io.stderr.write(`Try 'sandbox ${command} --help'.\n`);
  return exit;
}

export const publish: Command = async (argv, io) => {
  const parsed = parseCommandArgs(
    'publish',
    argv,
    { ...QUEUE_PARSE_OPTIONS, key: { type: 'string' }, header: { type: 'string', multiple: true } },
    PUBLISH_HELP,
    io,
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  let queue: QueueBackend | undefined;
  try {
    if (positionals.length !== 2) throw new UsageError('expected <topic> <json>');
    const [topic, json] = positionals as [string, string];
    const payload = encode(parseJson('<json>', json));
    const headers: Record<string, string> = {};
    for (const h of values.header ?? []) {
      const eq = h.indexOf('=');
      if (eq <= 0) throw new UsageError(`--header expects name=value, got ${JSON.stringify(h)}`);
      headers[h.slice(0, eq).toLowerCase()] = h.slice(eq + 1);
    }
    ({ queue } = await openQueue(values, io));
    await queue.publish({ topic, payload, key: values.key, headers });
    io.stderr.write(`published to ${topic} (${payload.length} bytes, ${queue.kind})\n`);
    return EXIT_OK;
  } catch (error) {
    return reportError('publish', error, io);
  } finally {
    await queue?.close();
  }
};

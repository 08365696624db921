// The queue entry point: createQueue picks a backend from a URL or options; NATS and Kafka load only when asked for.
import { SandboxError } from '../errors.ts';
import { createMemoryQueue, type MemoryQueueOptions } from './memory.ts';
import type { KafkaQueueOptions } from './kafka.ts';
import type { NatsQueueOptions } from './nats.ts';
import type { QueueBackend } from './types.ts';

export type QueueConfig =
  | string
  | ({ kind: 'memory' } & MemoryQueueOptions)
  | ({ kind: 'nats' } & NatsQueueOptions)
  | ({ kind: 'kafka' } & KafkaQueueOptions);

/** `memory`, `nats://host:port[,host:port]`, `kafka://host:port[,host:port]`, or the equivalent object. */
export async function createQueue(config: QueueConfig = 'memory'): Promise<QueueBackend> {
  const resolved = typeof config === 'string' ? parseQueueUrl(config) : config;
  switch (resolved.kind) {
    case 'memory':
      return createMemoryQueue(resolved);
    case 'nats': {
      const { createNatsQueue } = await import('./nats.ts');
      return createNatsQueue(resolved);
    }
    case 'kafka': {
      const { createKafkaQueue } = await import('./kafka.ts');
      return createKafkaQueue(resolved);
    }
    default:
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `unknown queue kind ${JSON.stringify((resolved as { kind: unknown }).kind)}`,
      );
  }
}

export function parseQueueUrl(url: string): Exclude<QueueConfig, string> {
  if (url === 'memory' || url === 'memory://') return { kind: 'memory' };
  const match = /^(nats|kafka):\/\/(.+)$/.exec(url);
  if (match === null) {
    throw new SandboxError(
      'SANDBOX_INVALID_OPTIONS',
      `queue ${JSON.stringify(url)}: expected memory, nats://host:port or kafka://host:port`,
    );
  }
  const servers = match[2]!
    .replace(/\/+$/, '')
    .split(',')
    .filter((s) => s.length > 0);
  for (const server of servers) {
    if (!/^[^\s/:,]+:\d{1,5}$/.test(server)) {
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `queue ${JSON.stringify(url)}: ${JSON.stringify(server)} is not host:port`,
      );
    }
  }
  return match[1] === 'nats' ? { kind: 'nats', servers } : { kind: 'kafka', brokers: servers };
}

export { createMemoryQueue, MemoryQueue, type MemoryQueueOptions } from './memory.ts';
export type { NatsQueueOptions } from './nats.ts';
export type { KafkaQueueOptions } from './kafka.ts';
export { compilePattern, validatePattern, validateTopic } from './topics.ts';
export * from './types.ts';

// Subpath `wasm-agent-sandbox/queue`: the queue contract, the memory backend and topic patterns.
export {
  createQueue,
  parseQueueUrl,
  createMemoryQueue,
  MemoryQueue,
  compilePattern,
  validatePattern,
  validateTopic,
  type QueueConfig,
  type MemoryQueueOptions,
  type NatsQueueOptions,
  type KafkaQueueOptions,
} from '../queue/index.ts';
export * from '../queue/types.ts';
export { deadLetterHeaders, type DeadLetterOrigin } from '../queue/dead-letter.ts';

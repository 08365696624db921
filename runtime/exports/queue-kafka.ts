// Subpath `wasm-agent-sandbox/queue/kafka`: the Kafka backend (needs @platformatic/kafka).
export { KafkaQueue, createKafkaQueue, type KafkaQueueOptions } from '../queue/kafka.ts';
export { kafkaPartitionOf, murmur2, toPositive } from '../queue/murmur2.ts';

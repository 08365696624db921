// Subpath `wasm-agent-sandbox/queue/nats`: the NATS JetStream backend (needs @nats-io/transport-node and @nats-io/jetstream).
export { NatsQueue, createNatsQueue, type NatsQueueOptions } from '../queue/nats.ts';

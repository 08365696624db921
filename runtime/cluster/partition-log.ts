// What a partition consumer needs from its message source (the NATS stream's partition subjects, or a Kafka partition): ordered reading, outputs, dead letters and the committed position.
import type { RunResult } from '../agent/types.ts';
import { SandboxError } from '../errors.ts';
import type { QueueHeaders } from '../queue/types.ts';
import type { AgentSpec } from '../swarm/topology.ts';

/** One message of a partition, as any source hands it over. */
export interface LogMessage {
  /**
   * Its position in the partition, from 1 (NATS: the stream sequence; Kafka: the offset + 1). A key's state records
   * the position of the last message applied to it: a replay at or below it is skipped.
   */
  seq: number;
  topic: string;
  key: string | undefined;
  payload: Uint8Array;
  /** Its headers (a function: only a dead letter needs them, and NATS builds them on demand). */
  headers(): QueueHeaders;
  /** Messages of the partition after this one, not read yet (the lag). */
  pending: number;
}

/** What the partition consumer offers a log to read into. */
export interface LogReader {
  offer(message: LogMessage): void;
  /** Whether it takes more messages now (its read-ahead window is not full). */
  hasRoom(): boolean;
  /** Undefined when there is room for more messages; else resolves once there is (one reader waits at a time). */
  waitForRoom(): Promise<void> | undefined;
}

/** The partition was taken away by its source (Kafka: an offset commit failed): stop it; the next owner replays. */
export class PartitionLost extends SandboxError {
  constructor(partition: number, why: string) {
    super('SANDBOX_CLUSTER_FENCED', `partition ${partition} is lost: ${why}`);
  }
}

export interface PartitionLog {
  /** Reads the partition's messages after position `from`, in order, into `reader`, until closed. */
  open(from: number, reader: LogReader): Promise<void>;
  /** Stops reading (what was offered stays with the consumer). */
  close(): Promise<void>;
  /** Publishes a run's outputs, before its state commits. `seq` and `agent` make their ids deterministic. */
  publish(agent: string, key: string, seq: number, result: RunResult): Promise<void>;
  deadLetter(spec: AgentSpec, key: string, message: LogMessage, reason: string, deliveries: number): Promise<void>;
  /** Records that every message at or below `position` is done; PartitionLost when the source refuses it. */
  commit(position: number): Promise<void>;
}

// A cluster's state as its bucket holds it: members (live or not), each partition's owner, epoch, committed position and lag.
import { keys, type ClusterBucket } from './bucket.ts';
import type { ClusterConfig } from './config.ts';
import type { KafkaPartitionPosition } from './kafka-positions.ts';
import type { MemberReport } from './membership.ts';

export interface ClusterStatus {
  bucket: string;
  /** Where the messages are: the NATS stream, or this Kafka topic (its consumer group's offsets are the positions). */
  source: 'nats' | { kafka: string };
  partitions: number;
  members: { node: string; live: boolean; ageMs: number; pid: number; partitions: number[] }[];
  owners: {
    partition: number;
    /** '' when released or never taken. */
    owner: string;
    /** The owner key's revision (0: never taken). */
    epoch: number;
    ownerLive: boolean;
    /** Stream sequence (Kafka: committed offset) every message at or below (Kafka: below) which is done. */
    position: number;
    /**
     * NATS: messages not delivered to the owner yet, as its last heartbeat said (null: no live owner). Kafka: records
     * past the group's committed offset (the high watermark minus it), as the broker says.
     */
    lag: number | null;
  }[];
}

export async function readClusterStatus(
  b: ClusterBucket,
  config: Pick<ClusterConfig, 'partitions' | 'memberTimeoutMs' | 'bucket'>,
  now = Date.now(),
  /** On Kafka: the topic and its partitions' committed offsets and high watermarks (readKafkaPositions). */
  kafka?: { topic: string; positions: KafkaPartitionPosition[] },
): Promise<ClusterStatus> {
  const members: ClusterStatus['members'] = [];
  const reports = new Map<string, { report: MemberReport; live: boolean }>();
  const names: string[] = [];
  for await (const key of await b.kv.keys(keys.members)) names.push(key);
  for (const key of names.sort()) {
    const entry = await b.kv.get(key);
    if (entry === null || entry.operation !== 'PUT') continue;
    let report: MemberReport;
    try {
      report = entry.json<MemberReport>();
    } catch {
      continue;
    }
    const ageMs = Math.max(0, now - entry.created.getTime());
    const live = ageMs < config.memberTimeoutMs;
    reports.set(report.node, { report, live });
    members.push({
      node: report.node,
      live,
      ageMs,
      pid: report.pid,
      partitions: Object.keys(report.partitions)
        .map(Number)
        .sort((x, y) => x - y),
    });
  }
  const owners: ClusterStatus['owners'] = [];
  for (let p = 0; p < config.partitions; p++) {
    const [owner, position] = await Promise.all([b.kv.get(keys.owner(p)), b.kv.get(keys.position(p))]);
    const node = owner !== null && owner.operation === 'PUT' ? owner.string() : '';
    const member = reports.get(node);
    const ownerLive = member?.live === true;
    const k = kafka?.positions.find((x) => x.partition === p);
    owners.push({
      partition: p,
      owner: node,
      epoch: owner?.revision ?? 0,
      ownerLive,
      position:
        kafka !== undefined
          ? (k?.committed ?? 0)
          : position !== null && position.operation === 'PUT'
            ? Number(position.string()) || 0
            : 0,
      lag:
        kafka !== undefined
          ? k === undefined
            ? null
            : Math.max(0, k.high - k.committed)
          : ownerLive
            ? (member!.report.partitions[String(p)]?.pending ?? null)
            : null,
    });
  }
  return {
    bucket: config.bucket,
    source: kafka === undefined ? 'nats' : { kafka: kafka.topic },
    partitions: config.partitions,
    members,
    owners,
  };
}

/** The status as a few lines of text. */
export function formatClusterStatus(s: ClusterStatus): string {
  const live = s.members.filter((m) => m.live).length;
  const on = s.source === 'nats' ? '' : ` of Kafka topic ${s.source.kafka}`;
  const lines = [`cluster ${s.bucket}: ${s.members.length} members (${live} live), ${s.partitions} partitions${on}`];
  for (const m of s.members) {
    lines.push(
      `  ${m.node}  ${m.live ? 'live' : 'gone'}  heartbeat ${(m.ageMs / 1000).toFixed(1)}s ago  pid ${m.pid}  partitions ${m.partitions.length > 0 ? m.partitions.join(',') : '-'}`,
    );
  }
  lines.push('  partition  owner  epoch  position  lag');
  for (const o of s.owners) {
    const owner = o.owner === '' ? '-' : `${o.owner}${o.ownerLive ? '' : ' (gone)'}`;
    lines.push(`  ${o.partition}  ${owner}  ${o.epoch}  ${o.position}  ${o.lag ?? '-'}`);
  }
  return lines.join('\n');
}

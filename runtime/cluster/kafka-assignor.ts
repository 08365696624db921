// The Kafka consumer group's assignor in cluster mode: partition p (of every topic) goes to the member whose node id rendezvous hashing picks, so a node joining or leaving moves only its share.
import type { GroupPartitionsAssigner } from '@platformatic/kafka';
import { ownerOf } from './rendezvous.ts';

/** The group protocol every node of the cluster speaks (its members' subscriptions carry their node ids). */
export const RENDEZVOUS_PROTOCOL = 'sandbox-rendezvous';

/**
 * The group leader's assignment: each partition (of every topic, so co-partitioned topics stay together) goes to the
 * member whose node id rendezvous hashing picks. Node ids ride in the members' protocol metadata.
 */
export const rendezvousAssigner: GroupPartitionsAssigner = (_current, members, topics, metadata) => {
  const memberOfNode = new Map<string, string>();
  for (const [memberId, subscription] of members) {
    const node = subscription.metadata?.toString() || memberId;
    // Two members with one node id (a restarted node whose old session has not expired): the later member id wins.
    const known = memberOfNode.get(node);
    if (known === undefined || memberId > known) memberOfNode.set(node, memberId);
  }
  const nodes = [...memberOfNode.keys()];
  const out = new Map<string, Map<string, { topic: string; partitions: number[] }>>();
  for (const memberId of members.keys()) out.set(memberId, new Map());
  for (const topic of topics) {
    const count = metadata.topics.get(topic)?.partitionsCount ?? 0;
    for (let p = 0; p < count; p++) {
      const memberId = memberOfNode.get(ownerOf(p, nodes)!)!;
      const assignments = out.get(memberId)!;
      const entry = assignments.get(topic) ?? { topic, partitions: [] };
      entry.partitions.push(p);
      assignments.set(topic, entry);
    }
  }
  return [...out].map(([memberId, assignments]) => ({ memberId, assignments }));
};

// A process that counts with keyed agents, says "checkpointed" once their states are on disk, then waits to be killed.
import { readFileSync } from 'node:fs';
import { Sandbox } from '../../runtime/index.ts';
import { agentPath } from './paths.ts';

const store = process.argv[2]!;
const counter = new Uint8Array(readFileSync(agentPath('counter')));
const sandbox = new Sandbox({ workers: 2, hibernation: { store, checkpointMs: 20 } });
const agents = await Promise.all(Array.from({ length: 10 }, (_, i) => sandbox.load(counter, { key: `killed-${i}` })));
await Promise.all(agents.map((a, i) => a.run({ by: i + 100 })));
// Two checkpoint periods, then the commit of what they wrote: lmdb commits within milliseconds.
for (;;) {
  await new Promise((resolve) => setTimeout(resolve, 100));
  if (sandbox.residency().checkpoints >= 10) break;
  await agents[0]!.run({ by: 0 }); // an answer carries the worker's residency report
}
await new Promise((resolve) => setTimeout(resolve, 300));
process.stdout.write('checkpointed\n');
setInterval(() => {}, 1000);

// A script that uses a Sandbox and never closes it: it must still exit, and (with hibernation) leave its keyed agents' states written.
import { Sandbox, type Isolation } from '../../runtime/index.ts';
import { agentPath, fixturePath } from './paths.ts';

const [isolation, store] = process.argv.slice(2) as [Isolation, string | undefined];
const sandbox = store
  ? new Sandbox({ workers: 1, hibernation: { store, checkpointMs: 0 } })
  : new Sandbox({ workers: 1, isolation });
const counter = await sandbox.load(agentPath('counter'), store ? { key: 'forgetful' } : {});
await counter.run({ by: 1 });
const r = await counter.run({ by: 1 });
process.stdout.write(`${JSON.stringify(r.output)}\n`);
// A run that times out replaces the worker; the new one must not hold the process open either.
if (!store && isolation === 'worker')
  await sandbox.run(fixturePath('loop-forever'), null, { limits: { fuel: 0, timeoutMs: 50 } });

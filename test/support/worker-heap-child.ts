// Runs the worker-heap scenario in a process of its own and prints what happened as one JSON line: a worker that
// runs out of heap can still abort its whole process (nodejs/node#47224), and that must fail one test, not the runner.
import { Sandbox } from '../../runtime/index.ts';
import { fixturePath, requireBuilt } from './paths.ts';

const sandbox = new Sandbox({ workers: 1, workerHeapMb: 128 });
try {
  const healthy = await sandbox.load(requireBuilt(fixturePath('output-ok')));
  // Log lines are strings on the worker's heap (events are bytes off it): 10,000 lines of 60 KB, log limits raised,
  // need 600 MB. Each line stays under V8's large-object size, so reaching the limit ends the worker; a failed
  // allocation in large-object space can abort the process instead.
  const flood = await sandbox.load(requireBuilt(fixturePath('log-large-lines')), {
    limits: { maxLogs: 1_000_000, logBytes: 2 ** 31, timeoutMs: 60_000, fuel: 0 },
  });
  const flooded = await flood.run(null);
  const after = await healthy.run(null);
  const line = {
    flood: { status: flooded.status, message: flooded.message },
    floodId: flood.id,
    workerRestarts: sandbox.workerRestarts,
    after: { status: after.status, output: after.output },
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
} finally {
  await sandbox.close();
}

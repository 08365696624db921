// Runs the worker-heap scenario in a process of its own and prints what happened as one JSON line: a worker that
// runs out of heap can still abort its whole process (nodejs/node#47224), and that must fail one test, not the runner.
import { Sandbox } from '../../runtime/index.ts';
import { fixturePath, requireBuilt } from './paths.ts';

const sandbox = new Sandbox({ workers: 1, workerHeapMb: 128 });
try {
  const healthy = await sandbox.load(requireBuilt(fixturePath('output-ok')));
  // Each event decodes to 9,000 small maps in the worker; the fixture's 1,000 events (event limits raised) need
  // far more than the 128 MB heap.
  // Arrays stay under 10,000 elements so V8 allocates them in the regular heap, where reaching the limit ends the
  // worker; a single array past that lands in large-object space, whose failed allocation aborts the process.
  const flood = await sandbox.load(requireBuilt(fixturePath('emit-input-repeatedly')), {
    limits: { eventBytes: 2 ** 31, maxEvents: 1000, timeoutMs: 60_000, fuel: 0 },
  });
  const input = Array.from({ length: 9_000 }, (_, i) => ({ i }));
  const flooded = await flood.run(input);
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

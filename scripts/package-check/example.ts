// A typed example app for scripts/check-package.sh: compiled with tsc --strict (skipLibCheck false) against the packed package, then run.
import { mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Sandbox, encode, isSandboxError, type RunResult } from 'wasm-agent-sandbox';
import { instrument } from 'wasm-agent-sandbox/instrument';
import { emulator } from 'wasm-agent-sandbox/emulator';
import { Graph, topologicalSort } from 'wasm-agent-sandbox/graph';
import { loadTopology, startSwarm } from 'wasm-agent-sandbox/swarm';
import { evaluateHealth } from 'wasm-agent-sandbox/ops';

interface VowelsIn {
  text: string;
}
interface VowelsOut {
  count: number;
  total: number;
  vowels: string;
}

const pkg = dirname(createRequire(import.meta.url).resolve('wasm-agent-sandbox/package.json'));
const agent = (name: string) => join(pkg, 'agents', 'build', `${name}.wasm`);
const check = (ok: boolean, what: string) => {
  if (!ok) throw new Error(`package check failed: ${what}`);
  console.log(`ok  ${what}`);
};

const sandbox = new Sandbox({ workers: 1 });
const result: RunResult<VowelsOut> = await sandbox.run<VowelsIn, VowelsOut>(agent('vowels'), { text: 'Hello World' });
check(
  result.status === 'ok' && result.output?.count === 3,
  `vowels runs on ${result.engine} (typed output: count ${result.output?.count})`,
);
const fib = await sandbox.run(agent('fib'), { n: 20 });
check(fib.status === 'ok', 'the Rust agent fib runs');

// Optional packages are not installed: using one fails with a code and the npm command, and nothing else breaks.
try {
  const hibernating = new Sandbox({ workers: 1, hibernation: { store: mkdtempSync(join(tmpdir(), 'pkg-state-')) } });
  await hibernating.load(agent('counter'), { key: 'k' });
  await hibernating.close();
  check(false, 'hibernation without lmdb fails');
} catch (error) {
  check(
    isSandboxError(error, 'SANDBOX_MISSING_DEPENDENCY') && /npm install lmdb/.test((error as Error).message),
    'hibernation without lmdb: SANDBOX_MISSING_DEPENDENCY naming `npm install lmdb`',
  );
}
await sandbox.close();

const metered = instrument(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
check(metered.length > 8, 'instrument() meters an empty module');
check(typeof emulator.Module === 'function', 'the emulator has the WebAssembly namespace shape');

const g = new Graph();
g.addNode('a');
g.addNode('b');
g.addEdge('a', 'b');
check(topologicalSort(g).join() === 'a,b', 'graph: topologicalSort');

const swarm = await startSwarm(await loadTopology(join(pkg, 'examples', 'sandbox.yaml')), { workers: 1 });
const lines = readFileSync(join(pkg, 'examples', 'logs.ndjson'), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .slice(0, 20);
for (const line of lines) await swarm.queue.publish({ topic: 'logs.app', payload: encode(JSON.parse(line)) });
await swarm.dispatcher.whenIdle();
const triage = swarm.dispatcher.stats().find((s) => s.name === 'triage');
await swarm.stop();
check(
  triage !== undefined && triage.acked === lines.length,
  `the example topology (examples/sandbox.yaml) triages ${triage?.acked ?? 0}/${lines.length} records`,
);
check(typeof evaluateHealth === 'function', 'ops: evaluateHealth');

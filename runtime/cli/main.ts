// The `sandbox` CLI: dispatches to one command per file and returns an exit code (never calls process.exit).
import { readFileSync } from 'node:fs';
import { closest } from './args.ts';
import { EXIT_OK, EXIT_USAGE, type CliIO, type Command } from './io.ts';
import { run } from './run.ts';

interface Entry {
  summary: string;
  load: () => Promise<Command>;
}

const COMMANDS: Record<string, Entry> = {
  run: {
    summary: 'run an agent or a WASI command once: sandbox run <file.wasm> --input <json>',
    load: async () => run,
  },
  call: {
    summary: 'call a function of an Extism plugin once: sandbox call <plugin.wasm> <function> --input <text>',
    load: async () => (await import('./call.ts')).call,
  },
  instrument: {
    summary: 'write the fuel-metered module: sandbox instrument <in.wasm> -o <out.wasm>',
    load: async () => (await import('./instrument.ts')).instrument,
  },
  graph: {
    summary: 'graph compute service: sandbox graph serve|parse|call ...',
    load: async () => (await import('./graph.ts')).graph,
  },
  serve: {
    summary: 'run a topology of agents on a queue until SIGINT/SIGTERM: sandbox serve <sandbox.yaml>',
    load: async () => (await import('./serve.ts')).serve,
  },
  cluster: {
    summary: "a cluster's members, partitions, owners, epochs and lag: sandbox cluster status <sandbox.yaml>",
    load: async () => (await import('./cluster.ts')).cluster,
  },
  publish: {
    summary: 'publish one message (JSON, sent as MessagePack): sandbox publish <topic> <json>',
    load: async () => (await import('./publish.ts')).publish,
  },
  ingest: {
    summary: 'stream a JSON-lines file onto a topic: sandbox ingest <file.ndjson> --topic <topic>',
    load: async () => (await import('./ingest.ts')).ingest,
  },
  tail: {
    summary: 'print the messages on matching topics: sandbox tail <pattern>',
    load: async () => (await import('./tail.ts')).tail,
  },
  audit: {
    summary:
      "health score and failure modes from a swarm's metrics (CI gate): sandbox audit --metrics <url> | --target <prometheus>",
    load: async () => (await import('./audit.ts')).audit,
  },
  new: {
    summary:
      'create an agent project (AssemblyScript or Rust) that builds and tests with npm test: sandbox new <name> [--lang as|rust]',
    load: async () => (await import('./new.ts')).scaffold,
  },
  build: {
    summary: "build the agent of a project made by 'sandbox new' into build/<name>.wasm: sandbox build [dir]",
    load: async () => (await import('./build.ts')).build,
  },
  demo: {
    summary: 'run the triage agent over a sample log file and show what it found: sandbox demo',
    load: async () => (await import('./demo.ts')).demo,
  },
};

export function registerCommand(name: string, summary: string, load: () => Promise<Command>): void {
  COMMANDS[name] = { summary, load };
}

/** The package's version; package.json sits two levels up from the sources and three from dist/. */
function version(): string {
  for (const relative of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as {
        name?: string;
        version: string;
      };
      if (pkg.name === 'wasm-agent-sandbox') return pkg.version;
    } catch {
      // not at this level
    }
  }
  return 'unknown';
}

export function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, e]) => `  ${name.padEnd(width)}  ${e.summary}`);
  return `Usage: sandbox <command> [options]

Runs untrusted WebAssembly agents under hard limits (fuel, memory, stack depth, wall clock).

Commands:
${lines.join('\n')}

Run 'sandbox <command> --help' for a command's options.
Docs: docs/abi.md (guest ABI), docs/extism.md (Extism plugins), docs/capabilities.md, docs/fuel.md (metering), docs/wasi.md, docs/topology.md (serve),
docs/queue.md, docs/graph.md, docs/operations.md (metrics, audit).`;
}

export async function main(argv: string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${help()}\n`);
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write(`${version()}\n`);
    return EXIT_OK;
  }
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) {
    const near = closest(name, Object.keys(COMMANDS));
    const message = `unknown command ${JSON.stringify(name)}${near === undefined ? '' : ` (did you mean ${near}?)`}`;
    if (rest.includes('--json')) {
      io.stdout.write(`${JSON.stringify({ error: { code: 'SANDBOX_USAGE', message } })}\n`);
    } else {
      io.stderr.write(`sandbox: ${message}\nRun 'sandbox --help' for the commands.\n`);
    }
    return EXIT_USAGE;
  }
  const command = await entry.load();
  return command(rest, io);
}

// `sandbox run <file.wasm>`: runs an agent once and prints its RunResult.
import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { EngineChoice, Limits, RunResult } from '../agent/types.ts';
import { Sandbox } from '../sandbox.ts';
import { SandboxError } from '../errors.ts';
import { moduleShape } from '../module/shape.ts';
import { resolveLimits } from '../agent/limits.ts';
import {
  parseBytes,
  parseCommandArgs,
  parseCount,
  parseDuration,
  parseJson,
  readAllBytesCapped,
  reportUsage,
  toJson,
  UsageError,
} from './args.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type CliIO, type Command } from './io.ts';

export const RUN_HELP = `Usage: sandbox run <file.wasm> [options] [-- program arguments]

Runs an agent once with one input and prints what it produced. A WASI command (a module that imports
wasi_snapshot_preview1 and exports _start) runs as a program instead: stdin, stdout and stderr pass
through, arguments after -- reach it, and the exit code is the program's. A WebAssembly component of
world \`agent\` (wit/agent.wit, docs/components.md) runs like an agent, its core modules under the same limits;
components need WebAssembly in this process for jco's transpiler (not node --jitless).

Input (MessagePack-encoded for the agent), one of:
  --input <json>          the input as JSON
  --input-file <path>     a file holding the input as JSON
  (stdin)                 JSON read from standard input when it is not a terminal
                          with none of these, the input is null
  --raw                   take the input as text (a string), not as JSON

Limits (sizes: 65536, 64KiB, 16MiB; durations: 500ms, 1s, 2m, a bare number is ms):
  --memory <size>         memory limit (default 16MiB)
  --timeout <duration>    wall-clock limit (default 1s)
  --fuel <n>              fuel limit in instructions, 0 = unmetered (default 100000000)
  --stack <frames>        call-depth limit, 0 = engine's own (default 10000)
  --tables <n>            table elements limit (default 100000)
  --input-limit <size>    largest input, also the most read from stdin (default 1MiB)
  --output-limit <size>   largest output (default 1MiB)
  --event-limit <size>    largest event payload (default 1MiB)
  --max-events <n>        events per run (default 1000)
  --max-logs <n>          log lines per run; more are dropped and counted (default 100)
  --log-limit <size>      log text per run; lines past it are dropped and counted (default 1MiB)
  --log-line-limit <size> longest log line; longer ones are dropped and counted (default 64KiB)
  --max-graph-calls <n>   graph service calls per run (default 100)

WASI commands:
  --dir <host>[:<guest>][:ro]   let the program see a host directory (default guest path: as given);
                          nothing else of the host's file system is reachable; :ro makes it read-only
  --env KEY=VALUE         an environment variable (repeatable)

Output:
  --engine <name>         auto (default), wasm (V8) or emulator (TypeScript)
  --json                  print the whole RunResult as one JSON object

Exit codes: 0 the agent succeeded, 1 the agent failed (trap, limit, error),
            2 usage error, invalid input or invalid module; a WASI command's own exit code when it exits.
With --json every outcome is one JSON object on stdout: the RunResult, or {"error": {"code", "message"}}.`;

export const run: Command = async (argv, io) => {
  // Everything after `--` belongs to the program, not to us.
  const dashes = argv.indexOf('--');
  const programArgs = dashes >= 0 ? argv.slice(dashes + 1) : [];
  const parsed = parseCommandArgs(
    'run',
    dashes >= 0 ? argv.slice(0, dashes) : argv,
    {
      input: { type: 'string' },
      'input-file': { type: 'string' },
      memory: { type: 'string' },
      timeout: { type: 'string' },
      fuel: { type: 'string' },
      stack: { type: 'string' },
      tables: { type: 'string' },
      'input-limit': { type: 'string' },
      'output-limit': { type: 'string' },
      'event-limit': { type: 'string' },
      'max-events': { type: 'string' },
      'max-logs': { type: 'string' },
      'log-limit': { type: 'string' },
      'log-line-limit': { type: 'string' },
      'max-graph-calls': { type: 'string' },
      raw: { type: 'boolean' },
      engine: { type: 'string' },
      dir: { type: 'string', multiple: true },
      env: { type: 'string', multiple: true },
      json: { type: 'boolean' },
    },
    RUN_HELP,
    io,
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  let sandbox: Sandbox | undefined;
  try {
    if (positionals.length !== 1)
      throw new UsageError(
        positionals.length === 0
          ? 'which agent? give the path of a .wasm file'
          : `one agent at a time; got ${positionals.join(' ')}`,
      );
    const file = resolve(io.cwd, positionals[0]!);
    const limits: Partial<Limits> = {};
    if (values.memory !== undefined) limits.memoryBytes = parseBytes('--memory', values.memory);
    if (values.timeout !== undefined) limits.timeoutMs = parseDuration('--timeout', values.timeout);
    if (values.fuel !== undefined) limits.fuel = parseCount('--fuel', values.fuel);
    if (values.stack !== undefined) limits.stackDepth = parseCount('--stack', values.stack);
    if (values.tables !== undefined) limits.tableElements = parseCount('--tables', values.tables);
    if (values['input-limit'] !== undefined) limits.inputBytes = parseBytes('--input-limit', values['input-limit']);
    if (values['output-limit'] !== undefined) limits.outputBytes = parseBytes('--output-limit', values['output-limit']);
    if (values['event-limit'] !== undefined) limits.eventBytes = parseBytes('--event-limit', values['event-limit']);
    if (values['max-events'] !== undefined) limits.maxEvents = parseCount('--max-events', values['max-events']);
    if (values['max-logs'] !== undefined) limits.maxLogs = parseCount('--max-logs', values['max-logs']);
    if (values['log-limit'] !== undefined) limits.logBytes = parseBytes('--log-limit', values['log-limit']);
    if (values['log-line-limit'] !== undefined)
      limits.logMessageBytes = parseBytes('--log-line-limit', values['log-line-limit']);
    if (values['max-graph-calls'] !== undefined)
      limits.maxGraphCalls = parseCount('--max-graph-calls', values['max-graph-calls']);
    // Checked before anything is read or loaded, so a bad limit is a usage error naming the limit.
    const resolved = resolveLimits(limits);
    const engine = (values.engine ?? 'auto') as EngineChoice;
    if (!['auto', 'wasm', 'emulator'].includes(engine))
      throw new UsageError(`--engine must be auto, wasm or emulator, got ${JSON.stringify(values.engine)}`);
    const bytes = await readModule(file, positionals[0]!);
    const shape = moduleShape(bytes);
    if (shape === 'extism-plugin')
      throw new UsageError(
        `${positionals[0]} is an Extism plugin: call one of its functions with \`sandbox call ${positionals[0]} <function> --input <text>\``,
      );
    if (shape === 'wasi-command') {
      sandbox = new Sandbox({ engine, workers: 1 });
      return await runCommand(
        sandbox,
        file,
        bytes,
        {
          limits,
          inputBytes: resolved.inputBytes,
          args: programArgs,
          dirs: values.dir ?? [],
          env: values.env ?? [],
          json: values.json === true,
        },
        io,
      );
    }
    const what = shape === 'component' ? 'this file is a component agent' : 'this module is an agent';
    if (programArgs.length > 0 || values.dir || values.env)
      throw new UsageError(`--dir, --env and arguments after -- are for WASI commands; ${what}`);
    const input = await readInput(values.input, values['input-file'], values.raw === true, resolved.inputBytes, io);
    sandbox = new Sandbox({ engine, workers: 1 });
    const options = { limits, name: basename(file).replace(/\.wasm$/, '') };
    // A component (world `agent` of wit/agent.wit) runs like an agent: same input, same report, same exit codes.
    const result =
      shape === 'component'
        ? await sandbox.runComponent(bytes, input, options)
        : await sandbox.run(bytes, input, options);
    report(result, values.json === true, io);
    if (result.status === 'ok') return EXIT_OK;
    // The agent never ran: the input or the module is wrong, which is the caller's to fix.
    return result.status === 'invalid-module' || result.status === 'invalid-input' ? EXIT_USAGE : EXIT_FAILED;
  } catch (error) {
    const code =
      error instanceof UsageError ? 'SANDBOX_USAGE' : ((error as { code?: string }).code ?? 'SANDBOX_FAILED');
    const usage = USAGE_CODES.has(code);
    if (usage) return reportUsage('run', (error as Error).message, io, values.json === true, code);
    if (values.json === true) io.stdout.write(`${toJson({ error: { code, message: (error as Error).message } })}\n`);
    else io.stderr.write(`sandbox run: ${(error as Error).message}\n`);
    return EXIT_FAILED;
  } finally {
    await sandbox?.close();
  }
};

/** Errors that are the caller's to fix: exit code 2. */
const USAGE_CODES = new Set([
  'SANDBOX_USAGE',
  'SANDBOX_INVALID_OPTIONS',
  'SANDBOX_MODULE_NOT_FOUND',
  'SANDBOX_ENGINE_UNAVAILABLE',
  'SANDBOX_MISSING_DEPENDENCY',
]);

/** The module's bytes, or an error that says what is wrong with the path. */
async function readModule(file: string, given: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EISDIR')
      throw new SandboxError(
        'SANDBOX_MODULE_NOT_FOUND',
        `${given} is a directory; give the path of a .wasm file in it`,
      );
    if (code === 'ENOENT') {
      // The README's example paths are relative to a checkout, where `npm run build:agents` makes them.
      const hint = /agents\/build\//.test(given)
        ? '; in a checkout, build the example agents with `npm run build:agents`; an installed package has them in node_modules/wasm-agent-sandbox/agents/build/'
        : '';
      throw new SandboxError('SANDBOX_MODULE_NOT_FOUND', `no such file: ${given}${hint}`);
    }
    throw new SandboxError('SANDBOX_MODULE_NOT_FOUND', `cannot read ${given}: ${code ?? (error as Error).message}`);
  }
}

async function readInput(
  inline: string | undefined,
  file: string | undefined,
  raw: boolean,
  maxBytes: number,
  io: CliIO,
): Promise<unknown> {
  if (inline !== undefined && file !== undefined) throw new UsageError('give --input or --input-file, not both');
  const value = (option: string, text: string) => (raw ? text : parseJson(option, text));
  if (inline !== undefined) return value('--input', inline);
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(resolve(io.cwd, file), 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new UsageError(
        `--input-file: ${code === 'EISDIR' ? `${file} is a directory` : code === 'ENOENT' ? `no such file: ${file}` : `cannot read ${file}: ${code ?? (error as Error).message}`}`,
      );
    }
    return value('--input-file', text);
  }
  if (io.stdin.isTTY) return null;
  // JSON text is at least as long as its MessagePack encoding is short, so a little room over the limit suffices:
  // the agent's own check then gives the exact answer, and a 300 MB pipe is not read to find out.
  const text = Buffer.from(await readAllBytesCapped(io.stdin, maxBytes * 2 + 1024, 'stdin')).toString('utf8');
  if (raw) return text;
  return text.trim() === '' ? null : parseJson('stdin', text);
}

function report(result: RunResult, json: boolean, io: CliIO): void {
  if (json) {
    io.stdout.write(`${toJson(result)}\n`);
    return;
  }
  if (result.status === 'ok') io.stdout.write(`${toJson(result.output, 2)}\n`);
  const facts = [
    `engine ${result.engine}`,
    `${result.durationMs.toFixed(2)} ms`,
    result.fuelUsed === null ? null : `fuel ${result.fuelUsed}`,
    `memory ${Math.round(result.memoryPeakBytes / 1024)} KiB`,
  ].filter(Boolean);
  io.stderr.write(`status: ${result.status} (${facts.join(', ')})\n`);
  if (result.message) io.stderr.write(`${result.message}\n`);
  for (const e of result.events) io.stderr.write(`event ${e.topic}: ${toJson(e.payload)}\n`);
  for (const l of result.logs) io.stderr.write(`log ${l.level}: ${l.message}\n`);
  if (result.logsDropped > 0) io.stderr.write(`(${result.logsDropped} log lines dropped past the limit)\n`);
}

interface CommandFlags {
  limits: Partial<Limits>;
  inputBytes: number;
  args: string[];
  dirs: string[];
  env: string[];
  json: boolean;
}

/** A WASI command: stdin, stdout and stderr pass through; the exit code is the program's. */
async function runCommand(
  sandbox: Sandbox,
  file: string,
  bytes: Uint8Array,
  flags: CommandFlags,
  io: CliIO,
): Promise<number> {
  const dirs = flags.dirs.map((spec) => parseDir(spec, io.cwd));
  const env: Record<string, string> = {};
  for (const pair of flags.env) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--env expects KEY=VALUE, got ${JSON.stringify(pair)}`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const stdin = io.stdin.isTTY ? new Uint8Array(0) : await readAllBytesCapped(io.stdin, flags.inputBytes, 'stdin');
  const result = await sandbox.runCommand(bytes, {
    limits: flags.limits,
    args: flags.args,
    env,
    dirs,
    stdin,
    name: basename(file).replace(/\.wasm$/, ''),
  });
  if (flags.json) {
    const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString('utf8'));
    io.stdout.write(`${toJson({ ...result, stdout: text(result.stdout), stderr: text(result.stderr) })}\n`);
  } else {
    if (result.stdout && result.stdout.length > 0) io.stdout.write(result.stdout);
    if (result.stderr && result.stderr.length > 0) io.stderr.write(result.stderr);
    if (result.status !== 'ok' && result.status !== 'exited')
      io.stderr.write(`sandbox run: ${result.status}: ${result.message ?? ''}\n`);
  }
  if (result.status === 'ok' || result.status === 'exited') return result.exitCode ?? 0;
  return result.status === 'invalid-module' ? EXIT_USAGE : EXIT_FAILED;
}

/** `host[:guest][:ro]` → a grant; the guest path defaults to the host path as given. */
function parseDir(spec: string, cwd: string): { host: string; guest: string; readOnly: boolean } {
  const parts = spec.split(':');
  const readOnly = parts.length > 1 && parts[parts.length - 1] === 'ro';
  if (readOnly) parts.pop();
  if (parts.length > 2 || parts[0] === '')
    throw new UsageError(`--dir expects <host>[:<guest>][:ro], got ${JSON.stringify(spec)}`);
  return { host: resolve(cwd, parts[0]!), guest: parts[1] ?? parts[0]!, readOnly };
}

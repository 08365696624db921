// `sandbox run <file.wasm>`: runs an agent once and prints its RunResult.
import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { EngineChoice, Limits, RunResult } from '../agent/types.ts';
import { Sandbox } from '../sandbox.ts';
import { SandboxError } from '../errors.ts';
import { moduleShape } from '../module/shape.ts';
import { parseBytes, parseCommandArgs, parseCount, parseJson, readAll, readAllBytes, toJson, UsageError } from './args.ts';
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

Limits:
  --memory <size>         memory limit, e.g. 1MiB, 64KiB, 1048576 (default 16MiB)
  --timeout <ms>          wall-clock limit (default 1000)
  --fuel <n>              fuel limit in instructions, 0 = unmetered (default 100000000)
  --stack <frames>        call-depth limit, 0 = engine's own (default 10000)

WASI commands:
  --dir <host>[:<guest>][:ro]   let the program see a host directory (default guest path: as given);
                          nothing else of the host's file system is reachable; :ro makes it read-only
  --env KEY=VALUE         an environment variable (repeatable)

Output:
  --engine <name>         auto (default), wasm (V8) or emulator (TypeScript)
  --json                  print the whole RunResult as one JSON object

Exit codes: 0 the agent succeeded, 1 the agent failed (trap, limit, error),
            2 usage error or invalid module; a WASI command's own exit code when it exits.`;

export const run: Command = async (argv, io) => {
  // Everything after `--` belongs to the program, not to us.
  const dashes = argv.indexOf('--');
  const programArgs = dashes >= 0 ? argv.slice(dashes + 1) : [];
  const parsed = parseCommandArgs('run', dashes >= 0 ? argv.slice(0, dashes) : argv, {
        input: { type: 'string' },
        'input-file': { type: 'string' },
        memory: { type: 'string' },
        timeout: { type: 'string' },
        fuel: { type: 'string' },
        stack: { type: 'string' },
        engine: { type: 'string' },
        dir: { type: 'string', multiple: true },
        env: { type: 'string', multiple: true },
        json: { type: 'boolean' }
      }, RUN_HELP, io);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  let sandbox: Sandbox | undefined;
  try {
    if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'which agent? give the path of a .wasm file' : `one agent at a time; got ${positionals.join(' ')}`);
    const file = resolve(io.cwd, positionals[0]!);
    const limits: Partial<Limits> = {};
    if (values.memory !== undefined) limits.memoryBytes = parseBytes('--memory', values.memory);
    if (values.timeout !== undefined) limits.timeoutMs = parseCount('--timeout', values.timeout);
    if (values.fuel !== undefined) limits.fuel = parseCount('--fuel', values.fuel);
    if (values.stack !== undefined) limits.stackDepth = parseCount('--stack', values.stack);
    const engine = (values.engine ?? 'auto') as EngineChoice;
    if (!['auto', 'wasm', 'emulator'].includes(engine)) throw new UsageError(`--engine must be auto, wasm or emulator, got ${JSON.stringify(values.engine)}`);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(file));
    } catch (error) {
      throw new SandboxError('SANDBOX_MODULE_NOT_FOUND', `no such file: ${positionals[0]} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; build the example agents with \`npm run build:agents\`)`);
    }
    const shape = moduleShape(bytes);
    if (shape === 'extism-plugin') throw new UsageError(`${positionals[0]} is an Extism plugin: call one of its functions with \`sandbox call ${positionals[0]} <function> --input <text>\``);
    if (shape === 'wasi-command') {
      sandbox = new Sandbox({ engine, workers: 1 });
      return await runCommand(sandbox, file, bytes, { limits, args: programArgs, dirs: values.dir ?? [], env: values.env ?? [], json: values.json === true }, io);
    }
    const what = shape === 'component' ? 'this file is a component agent' : 'this module is an agent';
    if (programArgs.length > 0 || values.dir || values.env) throw new UsageError(`--dir, --env and arguments after -- are for WASI commands; ${what}`);
    const input = await readInput(values.input, values['input-file'], io);
    sandbox = new Sandbox({ engine, workers: 1 });
    const options = { limits, name: basename(file).replace(/\.wasm$/, '') };
    // A component (world `agent` of wit/agent.wit) runs like an agent: same input, same report, same exit codes.
    const result = shape === 'component' ? await sandbox.runComponent(bytes, input, options) : await sandbox.run(bytes, input, options);
    report(result, values.json === true, io);
    if (result.status === 'ok') return EXIT_OK;
    return result.status === 'invalid-module' ? EXIT_USAGE : EXIT_FAILED;
  } catch (error) {
    const code = (error as { code?: string }).code;
    const usage = error instanceof UsageError || code === 'SANDBOX_INVALID_OPTIONS' || code === 'SANDBOX_MODULE_NOT_FOUND' || code === 'SANDBOX_ENGINE_UNAVAILABLE';
    io.stderr.write(`sandbox run: ${(error as Error).message}\n`);
    if (error instanceof UsageError) io.stderr.write(`Try 'sandbox run --help'.\n`);
    return usage ? EXIT_USAGE : EXIT_FAILED;
  } finally {
    await sandbox?.close();
  }
};

async function readInput(inline: string | undefined, file: string | undefined, io: CliIO): Promise<unknown> {
  if (inline !== undefined && file !== undefined) throw new UsageError('give --input or --input-file, not both');
  if (inline !== undefined) return parseJson('--input', inline);
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(resolve(io.cwd, file), 'utf8');
    } catch (error) {
      throw new UsageError(`--input-file: cannot read ${file}: ${(error as Error).message}`);
    }
    return parseJson('--input-file', text);
  }
  if (io.stdin.isTTY) return null;
  const text = await readAll(io.stdin);
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
  args: string[];
  dirs: string[];
  env: string[];
  json: boolean;
}

/** A WASI command: stdin, stdout and stderr pass through; the exit code is the program's. */
async function runCommand(sandbox: Sandbox, file: string, bytes: Uint8Array, flags: CommandFlags, io: CliIO): Promise<number> {
  const dirs = flags.dirs.map((spec) => parseDir(spec, io.cwd));
  const env: Record<string, string> = {};
  for (const pair of flags.env) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--env expects KEY=VALUE, got ${JSON.stringify(pair)}`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const stdin = io.stdin.isTTY ? new Uint8Array(0) : await readAllBytes(io.stdin);
  const result = await sandbox.runCommand(bytes, { limits: flags.limits, args: flags.args, env, dirs, stdin, name: basename(file).replace(/\.wasm$/, '') });
  if (flags.json) {
    const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString('utf8'));
    io.stdout.write(`${toJson({ ...result, stdout: text(result.stdout), stderr: text(result.stderr) })}\n`);
  } else {
    if (result.stdout && result.stdout.length > 0) io.stdout.write(result.stdout);
    if (result.stderr && result.stderr.length > 0) io.stderr.write(result.stderr);
    if (result.status !== 'ok' && result.status !== 'exited') io.stderr.write(`sandbox run: ${result.status}: ${result.message ?? ''}\n`);
  }
  if (result.status === 'ok' || result.status === 'exited') return result.exitCode ?? 0;
  return result.status === 'invalid-module' ? EXIT_USAGE : EXIT_FAILED;
}

/** `host[:guest][:ro]` → a grant; the guest path defaults to the host path as given. */
function parseDir(spec: string, cwd: string): { host: string; guest: string; readOnly: boolean } {
  const parts = spec.split(':');
  const readOnly = parts.length > 1 && parts[parts.length - 1] === 'ro';
  if (readOnly) parts.pop();
  if (parts.length > 2 || parts[0] === '') throw new UsageError(`--dir expects <host>[:<guest>][:ro], got ${JSON.stringify(spec)}`);
  return { host: resolve(cwd, parts[0]!), guest: parts[1] ?? parts[0]!, readOnly };
}

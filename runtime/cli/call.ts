// `sandbox call <plugin.wasm> <function>`: calls an exported function of an Extism plugin once and prints its output.
import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { EngineChoice, Limits } from '../agent/types.ts';
import { Sandbox } from '../sandbox.ts';
import { parseBytes, parseCommandArgs, parseCount, readAllBytes, toJson, UsageError } from './args.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type CliIO, type Command } from './io.ts';

export const CALL_HELP = `Usage: sandbox call <plugin.wasm> <function> [options]

Calls one exported function of an Extism plugin (a module that imports extism:host/env), unchanged, under
the sandbox's limits, and writes the bytes it output to stdout (docs/extism.md).

Input, one of:
  --input <text>          the input, sent as UTF-8 bytes
  --input-file <path>     a file whose bytes are the input
  (stdin)                 the bytes of standard input when it is not a terminal; otherwise no input

Abilities (none unless given):
  --config KEY=VALUE      a config entry the plugin reads with config_get (repeatable)
  --allow-host <host>     a host the plugin may reach with http_request: exact or *.example.com (repeatable)
  --wasi                  give the plugin our sandboxed WASI preview 1 (no files, no environment)

Limits:
  --memory <size>         memory limit, e.g. 1MiB (default 16MiB)
  --timeout <ms>          wall-clock limit (default 1000)
  --fuel <n>              fuel limit in instructions, 0 = unmetered (default 100000000)
  --stack <frames>        call-depth limit (default 10000)

Output:
  --engine <name>         auto (default), wasm (V8) or emulator (TypeScript)
  --json                  print the whole RunResult as one JSON object (output as text)

Exit codes: 0 the call succeeded, 1 it failed (error, trap, limit), 2 usage error or invalid module.`;

export const call: Command = async (argv, io) => {
  const parsed = parseCommandArgs(
    'call',
    argv,
    {
      input: { type: 'string' },
      'input-file': { type: 'string' },
      config: { type: 'string', multiple: true },
      'allow-host': { type: 'string', multiple: true },
      wasi: { type: 'boolean' },
      memory: { type: 'string' },
      timeout: { type: 'string' },
      fuel: { type: 'string' },
      stack: { type: 'string' },
      engine: { type: 'string' },
      json: { type: 'boolean' },
    },
    CALL_HELP,
    io,
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  let sandbox: Sandbox | undefined;
  try {
    if (positionals.length !== 2)
      throw new UsageError('give the plugin and the function to call: sandbox call <plugin.wasm> <function>');
    const [path, fn] = positionals as [string, string];
    const limits: Partial<Limits> = {};
    if (values.memory !== undefined) limits.memoryBytes = parseBytes('--memory', values.memory);
    if (values.timeout !== undefined) limits.timeoutMs = parseCount('--timeout', values.timeout);
    if (values.fuel !== undefined) limits.fuel = parseCount('--fuel', values.fuel);
    if (values.stack !== undefined) limits.stackDepth = parseCount('--stack', values.stack);
    const engine = (values.engine ?? 'auto') as EngineChoice;
    if (!['auto', 'wasm', 'emulator'].includes(engine))
      throw new UsageError(`--engine must be auto, wasm or emulator, got ${JSON.stringify(values.engine)}`);
    const config: Record<string, string> = {};
    for (const pair of values.config ?? []) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new UsageError(`--config expects KEY=VALUE, got ${JSON.stringify(pair)}`);
      config[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    const input = await readInput(values.input, values['input-file'], io);
    sandbox = new Sandbox({ engine, workers: 1 });
    const agent = await sandbox.load(resolve(io.cwd, path), {
      abi: 'extism',
      name: basename(path).replace(/\.wasm$/, ''),
      limits,
      config,
      allowedHosts: values['allow-host'] ?? [],
      wasi: values.wasi === true,
    });
    const result = await agent.call(fn, input);
    const output = result.output as Uint8Array | null;
    if (values.json === true) {
      io.stdout.write(`${toJson({ ...result, output: output === null ? null : new TextDecoder().decode(output) })}\n`);
    } else {
      if (result.status === 'ok' && output !== null) io.stdout.write(output);
      io.stderr.write(
        `${output !== null && output.length > 0 ? '\n' : ''}status: ${result.status} (engine ${result.engine}, ${result.durationMs.toFixed(2)} ms${result.fuelUsed === null ? '' : `, fuel ${result.fuelUsed}`})\n`,
      );
      if (result.message) io.stderr.write(`${result.message}\n`);
      for (const l of result.logs) io.stderr.write(`log ${l.level}: ${l.message}\n`);
    }
    if (result.status === 'ok') return EXIT_OK;
    return result.status === 'invalid-module' ? EXIT_USAGE : EXIT_FAILED;
  } catch (error) {
    const code = (error as { code?: string }).code;
    const usage =
      error instanceof UsageError ||
      code === 'SANDBOX_INVALID_OPTIONS' ||
      code === 'SANDBOX_MODULE_NOT_FOUND' ||
      code === 'SANDBOX_INVALID_MODULE' ||
      code === 'SANDBOX_ENGINE_UNAVAILABLE';
    io.stderr.write(`sandbox call: ${(error as Error).message}\n`);
    if (error instanceof UsageError) io.stderr.write(`Try 'sandbox call --help'.\n`);
    return usage ? EXIT_USAGE : EXIT_FAILED;
  } finally {
    await sandbox?.close();
  }
};

async function readInput(inline: string | undefined, file: string | undefined, io: CliIO): Promise<Uint8Array> {
  if (inline !== undefined && file !== undefined) throw new UsageError('give --input or --input-file, not both');
  if (inline !== undefined) return new TextEncoder().encode(inline);
  if (file !== undefined) {
    try {
      return new Uint8Array(await readFile(resolve(io.cwd, file)));
    } catch (error) {
      throw new UsageError(`--input-file: cannot read ${file}: ${(error as Error).message}`);
    }
  }
  if (io.stdin.isTTY) return new Uint8Array();
  return readAllBytes(io.stdin);
}

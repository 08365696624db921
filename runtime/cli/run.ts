// `sandbox run <file.wasm>`: runs an agent once and prints its RunResult.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { EngineChoice, Limits, RunResult } from '../agent/types.ts';
import { Sandbox } from '../sandbox.ts';
import { parseBytes, parseCount, parseJson, readAll, toJson, UsageError } from './args.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type CliIO, type Command } from './io.ts';

export const RUN_HELP = `Usage: sandbox run <file.wasm> [options]

Runs an agent once with one input and prints what it produced.

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

Output:
  --engine <name>         auto (default), wasm (V8) or emulator (TypeScript)
  --json                  print the whole RunResult as one JSON object

Exit codes: 0 the agent succeeded, 1 the agent failed (trap, limit, error),
            2 usage error or invalid module.`;

export const run: Command = async (argv, io) => {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        input: { type: 'string' },
        'input-file': { type: 'string' },
        memory: { type: 'string' },
        timeout: { type: 'string' },
        fuel: { type: 'string' },
        stack: { type: 'string' },
        engine: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    io.stderr.write(`sandbox run: ${(error as Error).message}\n\n${RUN_HELP}\n`);
    return EXIT_USAGE;
  }
  if (values.help) {
    io.stdout.write(`${RUN_HELP}\n`);
    return EXIT_OK;
  }
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
    const input = await readInput(values.input, values['input-file'], io);
    sandbox = new Sandbox({ engine, workers: 1 });
    const result = await sandbox.run(file, input, { limits });
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

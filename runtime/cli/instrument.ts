// `sandbox instrument <in.wasm> -o <out.wasm>`: writes the metered module, for inspection and for other engines.
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { instrumentWithReport, ModuleError } from '../module/instrument.ts';
import { parseBytes, parseCommandArgs, toJson, UsageError } from './args.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type Command } from './io.ts';

export const INSTRUMENT_HELP = `Usage: sandbox instrument <in.wasm> -o <out.wasm> [options]

Rewrites a module so that it meters itself (docs/fuel.md). The result runs in any WebAssembly engine:
set the exported globals __sandbox_fuel (i64, remaining fuel) and __sandbox_depth (i32, remaining call
depth), call __sandbox_start if it is exported, then call the module's exports. __sandbox_flags says why it
trapped (1 out of fuel, 2 stack depth, 4 memory.grow failed).

Options:
  -o, --output <file>   where to write the metered module (required unless --json only reports)
  --fuel-only           meter fuel but do not count call depth
  --memory <size>       clamp the memory maximum, e.g. 16MiB
  --json                print a JSON report of what changed`;

export const instrument: Command = async (argv, io) => {
  const parsed = parseCommandArgs(
    'instrument',
    argv,
    {
      output: { type: 'string', short: 'o' },
      'fuel-only': { type: 'boolean' },
      memory: { type: 'string' },
      json: { type: 'boolean' },
    },
    INSTRUMENT_HELP,
    io,
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  try {
    if (positionals.length !== 1) throw new UsageError('give exactly one input module');
    if (!values.output && !values.json) throw new UsageError('give -o <out.wasm>, or --json to report only');
    const input = resolve(io.cwd, positionals[0]!);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(input));
    } catch (error) {
      throw new UsageError(`cannot read ${positionals[0]}: ${(error as Error).message}`);
    }
    const memoryMaxPages =
      values.memory === undefined ? undefined : Math.floor(parseBytes('--memory', values.memory) / 65536);
    const { bytes: out, report } = instrumentWithReport(bytes, {
      fuel: true,
      stackDepth: !values['fuel-only'],
      ...(memoryMaxPages === undefined ? {} : { memoryMaxPages }),
    });
    if (values.output) await writeFile(resolve(io.cwd, values.output), out);
    if (values.json) io.stdout.write(`${toJson(report)}\n`);
    else {
      io.stderr.write(
        `instrumented ${report.functions} functions: ${report.charges} fuel charges, ${report.loopChecks} loop checks, ` +
          `${report.bulkSites} bulk sites; ${report.bytesIn} → ${report.bytesOut} bytes in ${report.ms.toFixed(1)} ms\n`,
      );
    }
    return EXIT_OK;
  } catch (error) {
    io.stderr.write(`sandbox instrument: ${(error as Error).message}\n`);
    if (error instanceof UsageError) return EXIT_USAGE;
    return error instanceof ModuleError ? EXIT_USAGE : EXIT_FAILED;
  }
};

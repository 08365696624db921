// Small parsers for CLI option values, each failing with a message that names the option.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EXIT_OK, EXIT_USAGE, type CliIO } from './io.ts';
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1 << 20, mb: 1 << 20, mib: 1 << 20, g: 1 << 30, gb: 1 << 30, gib: 1 << 30 };

/** "65536", "64KiB", "16MiB", "1GiB" → bytes. */
export function parseBytes(option: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text.trim());
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new UsageError(`${option} expects a size such as 65536, 64KiB or 16MiB, got ${JSON.stringify(text)}`);
  return Math.floor(Number(m[1]) * unit);
}

export function parseCount(option: string, text: string): number {
  const cleaned = text.replace(/_/g, '');
  if (!/^\d+$/.test(cleaned) || !Number.isSafeInteger(Number(cleaned))) {
    throw new UsageError(`${option} expects a non-negative integer, got ${JSON.stringify(text)}`);
  }
  return Number(cleaned);
}

export function parseJson(option: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${option} is not valid JSON (${(error as Error).message}): ${text.length > 80 ? `${text.slice(0, 80)}…` : text}`);
  }
}

/** JSON that survives BigInt (as a number when exact, else a string) and byte arrays (as arrays of numbers). */
export function toJson(value: unknown, indent?: number): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) => {
      if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
      if (v instanceof Uint8Array) return Array.from(v);
      return v;
    },
    indent,
  );
}

export async function readAllBytes(stream: AsyncIterable<unknown>): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return new Uint8Array(Buffer.concat(chunks));
}

export async function readAll(stream: AsyncIterable<unknown>): Promise<string> {
  return Buffer.from(await readAllBytes(stream)).toString('utf8');
}

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;
const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;
type CommandArgs<O extends ParseArgsOptionsConfig> = ReturnType<typeof parseArgs<{ args: string[]; options: O & typeof HELP_OPTION; allowPositionals: true }>>;

/**
 * Parses a command's argv with a `--help` flag added. Returns the parsed values, or the exit code when there is
 * nothing left to do: the help was printed (0), or the flags were wrong (2, with the error and the help).
 */
export function parseCommandArgs<const O extends ParseArgsOptionsConfig>(command: string, argv: string[], options: O, help: string, io: CliIO): CommandArgs<O> | number {
  let parsed: CommandArgs<O>;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, ...HELP_OPTION }, allowPositionals: true }) as CommandArgs<O>;
  } catch (error) {
    io.stderr.write(`sandbox ${command}: ${(error as Error).message}\n\n${help}\n`);
    return EXIT_USAGE;
  }
  if ((parsed.values as { help?: boolean }).help) {
    io.stdout.write(`${help}\n`);
    return EXIT_OK;
  }
  return parsed;
}

// Small parsers for CLI option values, each failing with a message that names the option.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EXIT_OK, EXIT_USAGE, type CliIO } from './io.ts';
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1 << 20,
  mb: 1 << 20,
  mib: 1 << 20,
  g: 1 << 30,
  gb: 1 << 30,
  gib: 1 << 30,
};

/** "65536", "64KiB", "16MiB", "1GiB" → bytes. */
export function parseBytes(option: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text.trim());
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined)
    throw new UsageError(`${option} expects a size such as 65536, 64KiB or 16MiB, got ${JSON.stringify(text)}`);
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
    throw new UsageError(
      `${option} is not valid JSON (${(error as Error).message}): ${text.length > 80 ? `${text.slice(0, 80)}…` : text}`,
    );
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
type CommandArgs<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O & typeof HELP_OPTION; allowPositionals: true }>
>;

/**
 * Parses a command's argv with a `--help` flag added. Returns the parsed values, or the exit code when there is
 * nothing left to do: the help was printed (0), or the flags were wrong (2, with a one-line error that suggests
 * the closest flag, as JSON on stdout when `--json` was given).
 */
export function parseCommandArgs<const O extends ParseArgsOptionsConfig>(
  command: string,
  argv: string[],
  options: O,
  help: string,
  io: CliIO,
): CommandArgs<O> | number {
  let parsed: CommandArgs<O>;
  try {
    parsed = parseArgs({
      args: joinNegativeValues(argv, options),
      options: { ...options, ...HELP_OPTION },
      allowPositionals: true,
    }) as CommandArgs<O>;
  } catch (error) {
    return reportUsage(
      command,
      parseErrorMessage(error as Error & { code?: string }, Object.keys(options)),
      io,
      argv.includes('--json'),
    );
  }
  if ((parsed.values as { help?: boolean }).help) {
    io.stdout.write(`${help}\n`);
    return EXIT_OK;
  }
  return parsed;
}

/** A usage error: one line and where to look (text), or `{"error": {...}}` on stdout (--json). Returns exit code 2. */
export function reportUsage(
  command: string,
  message: string,
  io: CliIO,
  json: boolean,
  code = 'SANDBOX_USAGE',
): number {
  if (json) {
    io.stdout.write(`${toJson({ error: { code, message } })}\n`);
  } else {
    io.stderr.write(`sandbox ${command}: ${message}\n`);
    if (code === 'SANDBOX_USAGE') io.stderr.write(`Try 'sandbox ${command} --help'.\n`);
  }
  return EXIT_USAGE;
}

/** node:util's parser messages, shortened, with the closest known flag for a typo. */
function parseErrorMessage(error: Error & { code?: string }, known: string[]): string {
  const option = /'(-[^']*)'/.exec(error.message)?.[1];
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option !== undefined) {
    const name = option.replace(/^-+/, '').replace(/=.*$/, '');
    const near = closest(name, known);
    return `unknown option ${option}${near === undefined ? '' : ` (did you mean --${near}?)`}`;
  }
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option !== undefined) {
    return /argument missing/.test(error.message)
      ? `${option.split(' ')[0]} needs a value`
      : `${option.split(' ')[0]} takes no value`;
  }
  return error.message.split('\n')[0]!;
}

/** The candidate within two edits of `word` (or that it abbreviates), for "did you mean". */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const d = candidate.startsWith(word) && word.length >= 2 ? 1 : editDistance(word, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row.push(Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    previous = row;
  }
  return previous[b.length]!;
}

/**
 * `--fuel -5` reads to node:util as two flags ("argument is ambiguous"); joined as `--fuel=-5` the value reaches
 * the option's own parser, which says what it expects.
 */
function joinNegativeValues(argv: string[], options: ParseArgsOptionsConfig): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

const DURATION_UNITS: Record<string, number> = { '': 1, ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

/** "500", "500ms", "1s", "1.5s", "2m", "1h" → whole milliseconds (a bare number is milliseconds). */
export function parseDuration(option: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(text.trim().toLowerCase());
  const unit = m ? DURATION_UNITS[m[2]!] : undefined;
  if (!m || unit === undefined)
    throw new UsageError(
      `${option} expects a duration such as 500ms, 1s or 2m (a bare number is milliseconds), got ${JSON.stringify(text)}`,
    );
  const ms = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(ms)) throw new UsageError(`${option}: ${JSON.stringify(text)} is too long`);
  return ms;
}

/** Reads a whole stream, failing once it passes `maxBytes` (without reading the rest). */
export async function readAllBytesCapped(
  stream: AsyncIterable<unknown>,
  maxBytes: number,
  what: string,
): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    total += buffer.length;
    if (total > maxBytes)
      throw new UsageError(
        `${what} holds more than ${maxBytes} bytes, more than an input within the input limit can be; raise --input-limit`,
      );
    chunks.push(buffer);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

// `sandbox graph serve|parse|call`: run the graph service, parse a source tree, or call one method for scripting.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isSandboxError } from '../errors.ts';
import { GraphClient } from '../graph/client.ts';
import { isGraphError } from '../graph/errors.ts';
import { GraphServer, type GraphServerOptions } from '../graph/server.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type CliIO, type Command } from './io.ts';

export const GRAPH_HELP = `Usage: sandbox graph <subcommand> ...

  serve --socket <path> | --port <n> [--token-file <file>] [--ledger <file>] [--fsync]
        [--max-frame <bytes>] [--timeout <ms>] [--no-parsing] [--max-connections <n>]
        [--auth-timeout <ms>] [--max-in-flight <n>] [--max-steps <n>]
      Runs the graph service until interrupted. --socket listens on a Unix socket (mode 0600);
      --port listens on 127.0.0.1 and requires a token: --token-file <file> (its first line) or
      env SANDBOX_GRAPH_TOKEN. (--token <t> works too but shows the token to anyone running ps.)
      --ledger appends every transaction to a file and recovers the graph from it on start.
      --no-parsing turns off parseFile/parseRepository (they read this machine's files).
      Before auth a connection may send 4 KiB frames and must authenticate within --auth-timeout
      (5000 ms); at most --max-connections (256) connections, --max-in-flight (16) parsing requests
      per connection; subgraphMatch searches at most --max-steps (10,000,000) steps.

  parse <dir|file> [--json] [--max-file-bytes <n>]
      Parses Python / TypeScript / JavaScript sources into a code graph (modules, classes,
      functions; contains / imports / calls edges). Prints a summary, or the graph with --json.

  call <url> <method> [<json-params>] [--token-file <file>] [--timeout <ms>]
      Sends one request (url: unix:///path or tcp://host:port) and prints the result as JSON.
      Example: sandbox graph call unix:///tmp/g.sock addNode '{"key":"a"}'

Exit codes: 0 ok, 1 failure, 2 usage error.`;

class Usage extends Error {}

function intOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Usage(`--${name} must be a non-negative integer, got '${value}'`);
  return n;
}

/**
 * The token from --token-file, env SANDBOX_GRAPH_TOKEN or --token, in that order of preference. A token on the
 * command line is readable by every user of the machine through ps, so it still works but earns a warning.
 */
async function tokenOption(
  values: { token?: string | undefined; 'token-file'?: string | undefined },
  io: CliIO,
): Promise<string | undefined> {
  if (values.token !== undefined && values['token-file'] !== undefined)
    throw new Usage('give --token-file or --token, not both');
  if (values['token-file'] !== undefined) {
    const { readFile } = await import('node:fs/promises');
    let text: string;
    try {
      text = await readFile(resolve(io.cwd, values['token-file']), 'utf8');
    } catch (err) {
      throw new Usage(
        `--token-file: cannot read ${values['token-file']} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
    const token = text.split(/\r?\n/, 1)[0]!.trim();
    if (token === '') throw new Usage(`--token-file: ${values['token-file']} has an empty first line`);
    return token;
  }
  if (values.token !== undefined) {
    io.stderr.write(
      'warning: --token is visible to every user of this machine (ps); use --token-file <file> or env SANDBOX_GRAPH_TOKEN\n',
    );
    return values.token;
  }
  return io.env['SANDBOX_GRAPH_TOKEN'];
}

function describeError(err: unknown): string {
  if (isGraphError(err) || isSandboxError(err)) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

async function serve(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      socket: { type: 'string' },
      port: { type: 'string' },
      token: { type: 'string' },
      'token-file': { type: 'string' },
      ledger: { type: 'string' },
      fsync: { type: 'boolean' },
      'max-frame': { type: 'string' },
      timeout: { type: 'string' },
      'no-parsing': { type: 'boolean' },
      'max-connections': { type: 'string' },
      'auth-timeout': { type: 'string' },
      'max-in-flight': { type: 'string' },
      'max-steps': { type: 'string' },
    },
  });
  if ((values.socket === undefined) === (values.port === undefined))
    throw new Usage('serve needs exactly one of --socket <path> or --port <n>');
  const token = await tokenOption(values, io);
  if (values.port !== undefined && (token === undefined || token === '')) {
    throw new Usage('--port needs a token: --token-file <file> or env SANDBOX_GRAPH_TOKEN');
  }
  const options: GraphServerOptions = { log: (line) => io.stderr.write(`${line}\n`) };
  if (values.socket !== undefined) options.socket = resolve(io.cwd, values.socket);
  const port = intOption(values.port, 'port');
  if (port !== undefined) options.port = port;
  if (token !== undefined && token !== '') options.token = token;
  if (values.ledger !== undefined) options.ledgerFile = resolve(io.cwd, values.ledger);
  if (values.fsync) options.fsync = true;
  if (values['no-parsing']) options.allowParsing = false;
  const maxFrame = intOption(values['max-frame'], 'max-frame');
  if (maxFrame !== undefined) options.maxFrameBytes = maxFrame;
  const timeout = intOption(values.timeout, 'timeout');
  if (timeout !== undefined) options.requestTimeoutMs = timeout;
  const caps = [
    ['max-connections', 'maxConnections'],
    ['auth-timeout', 'authTimeoutMs'],
    ['max-in-flight', 'maxInFlight'],
    ['max-steps', 'maxSteps'],
  ] as const;
  for (const [flag, key] of caps) {
    const value = intOption(values[flag], flag);
    if (value === undefined) continue;
    if (value < 1) throw new Usage(`--${flag} must be at least 1`);
    options[key] = value;
  }

  if (io.signal.aborted) return EXIT_OK;
  let server: GraphServer;
  try {
    server = await GraphServer.listen(options);
  } catch (err) {
    io.stderr.write(`sandbox graph serve: ${describeError(err)}\n`);
    return EXIT_FAILED;
  }
  const rec = server.store.recovery;
  const recovered =
    options.ledgerFile !== undefined
      ? ` (ledger ${options.ledgerFile}: ${rec.records} records replayed, seq ${server.store.lastSeq}${rec.droppedBytes > 0 ? `, ${rec.droppedBytes} torn bytes dropped` : ''})`
      : '';
  io.stdout.write(`graph service listening on ${server.url}${recovered}\n`);
  await new Promise<void>((done) => {
    if (io.signal.aborted) done();
    else io.signal.addEventListener('abort', () => done(), { once: true });
  });
  await server.close();
  io.stdout.write('graph service stopped\n');
  return EXIT_OK;
}

async function parse(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: 'boolean' }, 'max-file-bytes': { type: 'string' } },
  });
  if (positionals.length !== 1) throw new Usage('parse needs one directory or file');
  const target = resolve(io.cwd, positionals[0] as string);
  const maxFileBytes = intOption(values['max-file-bytes'], 'max-file-bytes');
  const opts = maxFileBytes === undefined ? {} : { maxFileBytes };
  const { stat } = await import('node:fs/promises');
  const { parseFile, parseRepository } = await import('../graph/parse/parse.ts');
  let result;
  try {
    const isDir = (await stat(target)).isDirectory();
    result = isDir ? await parseRepository(target, opts) : await parseFile(target, opts);
  } catch (err) {
    io.stderr.write(`sandbox graph parse: ${describeError(err)}\n`);
    return EXIT_FAILED;
  }
  if (values.json) {
    io.stdout.write(`${JSON.stringify(result)}\n`);
    return EXIT_OK;
  }
  const count = (t: string) =>
    result.graph.nodes.filter((n) => n.attributes?.['type'] === t && n.attributes['external'] !== true).length;
  const flag = (f: string) => result.graph.edges.filter((e) => e.attributes?.[f] === true).length;
  const r = result.report;
  io.stdout.write(
    `${r.files} files: ${count('module')} modules, ${count('class')} classes, ${count('function')} functions\n` +
      `edges: ${flag('contains')} contains, ${flag('imports')} imports, ${flag('calls')} calls (${r.resolvedCalls}/${r.calls} call sites resolved)\n`,
  );
  for (const s of r.skipped) io.stdout.write(`skipped ${s.path}: ${s.reason}${s.detail ? ` (${s.detail})` : ''}\n`);
  for (const p of r.syntaxErrors) io.stdout.write(`syntax errors in ${p} (parsed what it could)\n`);
  return EXIT_OK;
}

async function call(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { token: { type: 'string' }, 'token-file': { type: 'string' }, timeout: { type: 'string' } },
  });
  if (positionals.length < 2 || positionals.length > 3) throw new Usage('call needs <url> <method> [<json-params>]');
  const [url, method, raw] = positionals as [string, string, string | undefined];
  let params: Record<string, unknown> = {};
  if (raw !== undefined) {
    try {
      params = JSON.parse(raw) as Record<string, unknown>;
    } catch (err) {
      throw new Usage(`params must be JSON: ${(err as Error).message}`);
    }
    if (params === null || typeof params !== 'object' || Array.isArray(params))
      throw new Usage('params must be a JSON object');
  }
  const token = await tokenOption(values, io);
  const timeoutMs = intOption(values.timeout, 'timeout');
  let client: GraphClient | undefined;
  try {
    client = await GraphClient.connect(url, {
      ...(token ? { token } : {}),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      env: io.env,
      log: (line) => io.stderr.write(`${line}\n`),
    });
    const result = await client.request(method, params);
    io.stdout.write(`${JSON.stringify(result ?? null)}\n`);
    return EXIT_OK;
  } catch (err) {
    if (isSandboxError(err, 'SANDBOX_INVALID_OPTIONS')) {
      io.stderr.write(`sandbox graph call: ${err.message}\n`);
      return EXIT_USAGE;
    }
    io.stderr.write(`sandbox graph call: ${describeError(err)}\n`);
    return EXIT_FAILED;
  } finally {
    await client?.close();
  }
}

export const graph: Command = async (argv, io) => {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    io.stdout.write(`${GRAPH_HELP}\n`);
    return sub === undefined ? EXIT_USAGE : EXIT_OK;
  }
  const handlers: Record<string, (a: string[], io: CliIO) => Promise<number>> = { serve, parse, call };
  const handler = Object.hasOwn(handlers, sub) ? handlers[sub] : undefined;
  if (handler === undefined) {
    io.stderr.write(`sandbox graph: unknown subcommand '${sub}'\n\n${GRAPH_HELP}\n`);
    return EXIT_USAGE;
  }
  try {
    return await handler(rest, io);
  } catch (err) {
    if (err instanceof Usage || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`sandbox graph ${sub}: ${(err as Error).message}\n\n${GRAPH_HELP}\n`);
      return EXIT_USAGE;
    }
    io.stderr.write(`sandbox graph ${sub}: ${describeError(err)}\n`);
    return EXIT_FAILED;
  }
};

// Runs the CLI in-process with captured streams, as a user would see it.
import { Readable } from 'node:stream';
import { main } from '../../runtime/cli/main.ts';
import { repoRoot } from './paths.ts';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

const text = (s: string | Uint8Array) => (typeof s === 'string' ? s : Buffer.from(s).toString('utf8'));

export async function runCli(
  argv: string[],
  options: { stdin?: string; cwd?: string; env?: Record<string, string> } = {},
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const stdin = Readable.from(options.stdin === undefined ? [] : [Buffer.from(options.stdin)]) as Readable & {
    isTTY?: boolean;
  };
  stdin.isTTY = options.stdin === undefined;
  const code = await main(argv, {
    stdout: { write: (s: string | Uint8Array) => (stdout += text(s)) },
    stderr: { write: (s: string | Uint8Array) => (stderr += text(s)) },
    stdin,
    env: options.env ?? {},
    cwd: options.cwd ?? repoRoot,
    signal: new AbortController().signal,
  });
  return { code, stdout, stderr };
}

// The streams and environment a CLI command works with, so tests can run commands in-process.
import type { Readable } from 'node:stream';

export interface CliIO {
  stdout: { write(chunk: string | Uint8Array): unknown; isTTY?: boolean };
  stderr: { write(chunk: string | Uint8Array): unknown; isTTY?: boolean };
  stdin: Readable & { isTTY?: boolean };
  env: Record<string, string | undefined>;
  cwd: string;
  /** Resolves when the user asks the process to stop (SIGINT/SIGTERM); long-running commands race it. */
  signal: AbortSignal;
}

/** A command: parses its own argv (everything after the command name) and returns an exit code. */
export type Command = (argv: string[], io: CliIO) => Promise<number>;

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

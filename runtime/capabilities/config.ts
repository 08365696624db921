// Per-agent config: read-only strings the application hands an agent (Extism `config_get`), checked and capped at load.
import { SandboxError } from '../errors.ts';

/** Bytes of all keys and values of one agent's config together. */
export const MAX_CONFIG_BYTES = 64 * 1024;

export function checkConfig(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SandboxError('SANDBOX_INVALID_OPTIONS', 'config must be an object of strings');
  let bytes = 0;
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new SandboxError('SANDBOX_INVALID_OPTIONS', `config.${k} must be a string, got ${typeof v}`);
    bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (bytes > MAX_CONFIG_BYTES) throw new SandboxError('SANDBOX_INVALID_OPTIONS', `config holds ${bytes} bytes; the limit is ${MAX_CONFIG_BYTES}`);
  return { ...(value as Record<string, string>) };
}

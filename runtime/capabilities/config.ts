// Per-agent config: read-only strings the application hands an agent (Extism `config_get`), checked and capped at load.
import { grantError, type GrantContext } from './grants.ts';

/** Bytes of all keys and values of one agent's config together. */
export const MAX_CONFIG_BYTES = 64 * 1024;

export function resolveConfigGrant(value: unknown, context: GrantContext): Readonly<Record<string, string>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw grantError(context, 'config', 'must be a map of strings');
  let bytes = 0;
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw grantError(context, `config.${k}`, `must be a string, got ${typeof v}`);
    bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (bytes > MAX_CONFIG_BYTES)
    throw grantError(context, 'config', `holds ${bytes} bytes; the limit is ${MAX_CONFIG_BYTES}`);
  return Object.freeze({ ...(value as Record<string, string>) });
}

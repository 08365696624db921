// The audit trail's content id of a message: the first 24 hex digits of SHA-256 over topic, NUL, key, NUL, payload.
import * as crypto from 'node:crypto';

// Node ≥ 20.12 hashes a buffer in one call, without a Hash object per message (about half the cost).
const oneShotHash = (crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: 'hex') => string }).hash;

/** The id of `bytes` (the digest prefix followed by the payload, contiguous). */
export function contentDigest(bytes: Uint8Array): string {
  if (oneShotHash !== undefined) return oneShotHash('sha256', bytes, 'hex').slice(0, 24);
  return crypto.createHash('sha256').update(bytes).digest('hex').slice(0, 24);
}

/** Header a producer may set to give a message a stable id in the trail (used instead of the digest). */
export const MESSAGE_ID_HEADER = 'x-message-id';

const prefixes = new Map<string, Uint8Array>();

/**
 * `topic NUL key NUL` as bytes: what the digest hashes before the payload. A run can carry it to its worker, which
 * hashes it with the input it already holds, so the host thread does not hash every message
 * (`RunResult.inputDigest`). Remembered for messages without a key (a few topics); made for keyed ones.
 */
export function digestPrefix(topic: string, key: string | undefined): Uint8Array {
  if (key !== undefined && key.length > 0) return Buffer.from(`${topic}\0${key}\0`);
  let prefix = prefixes.get(topic);
  if (prefix === undefined) {
    prefix = Buffer.from(`${topic}\0\0`);
    if (prefixes.size >= 10_000) prefixes.clear();
    prefixes.set(topic, prefix);
  }
  return prefix;
}

// The guest ABI v1 contract in code: export and import names and the status codes host imports return (docs/abi.md).

import { MAX_TOPIC_LENGTH } from '../runtime/queue/topics.ts';

export const ABI_VERSION = 1;

/** Exports every guest must provide. */
export const GUEST_EXPORTS = {
  memory: 'memory',
  abiVersion: 'sandbox_abi_version',
  alloc: 'sandbox_alloc',
  handle: 'sandbox_handle',
  init: 'sandbox_init',
} as const;

export const IMPORT_MODULE = 'sandbox';

/** Status codes returned by host imports. They never throw into the guest. */
export const HostStatus = {
  OK: 0,
  E_BOUNDS: -1,
  E_LIMIT: -2,
  E_INVALID: -3,
  E_UNAVAILABLE: -4,
  E_HOST: -5,
} as const;

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/**
 * Topics a guest may emit to: dot-separated tokens of [A-Za-z0-9_-], at most as long as every queue backend takes
 * (249 bytes, Kafka's limit): a longer emit fails the run as an abi-violation, instead of a run that ends `ok`
 * whose publish then fails on every retry until it is dead-lettered.
 */
export const TOPIC_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
export const MAX_TOPIC_BYTES = MAX_TOPIC_LENGTH;

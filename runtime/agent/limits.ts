// Checks and completes user-supplied limits, so a typo fails loudly instead of running unlimited.
import { SandboxError } from '../errors.ts';
import { DEFAULT_LIMITS, type Limits } from './types.ts';

const PAGE = 65536;
export const MAX_MEMORY_BYTES = 65536 * PAGE;
export const MAX_TIMEOUT_MS = 0x7fffffff;

export function resolveLimits(...layers: (Partial<Limits> | undefined)[]): Limits {
  const limits: Limits = { ...DEFAULT_LIMITS };
  for (const layer of layers) {
    if (!layer) continue;
    for (const [key, value] of Object.entries(layer)) {
      if (value === undefined) continue;
      if (!(key in DEFAULT_LIMITS)) {
        throw new SandboxError(
          'SANDBOX_INVALID_OPTIONS',
          `unknown limit ${JSON.stringify(key)}; known limits: ${Object.keys(DEFAULT_LIMITS).join(', ')}`,
        );
      }
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || !Number.isInteger(value)) {
        throw new SandboxError(
          'SANDBOX_INVALID_OPTIONS',
          `limits.${key} must be a non-negative integer, got ${String(value)}`,
        );
      }
      (limits as unknown as Record<string, number>)[key] = value;
    }
  }
  if (limits.memoryBytes < PAGE) {
    throw new SandboxError(
      'SANDBOX_INVALID_OPTIONS',
      `limits.memoryBytes must be at least one 64 KiB page (65536), got ${limits.memoryBytes}`,
    );
  }
  // A 32-bit memory has at most 65536 pages; a larger cap would reach the instrumenter as an invalid module.
  if (limits.memoryBytes > MAX_MEMORY_BYTES) {
    throw new SandboxError(
      'SANDBOX_INVALID_OPTIONS',
      `limits.memoryBytes must be at most 4 GiB (${MAX_MEMORY_BYTES}), got ${limits.memoryBytes}`,
    );
  }
  if (limits.timeoutMs < 1) throw new SandboxError('SANDBOX_INVALID_OPTIONS', 'limits.timeoutMs must be at least 1');
  // Node's timers hold a signed 32-bit delay: a larger one fires after 1 ms with a TimeoutOverflowWarning.
  if (limits.timeoutMs > MAX_TIMEOUT_MS) {
    throw new SandboxError(
      'SANDBOX_INVALID_OPTIONS',
      `limits.timeoutMs must be at most ${MAX_TIMEOUT_MS} (about 24.8 days), got ${limits.timeoutMs}`,
    );
  }
  if (limits.fuel > Number.MAX_SAFE_INTEGER)
    throw new SandboxError('SANDBOX_INVALID_OPTIONS', 'limits.fuel must be at most 2^53-1');
  if (limits.stackDepth > 0x7fffffff)
    throw new SandboxError('SANDBOX_INVALID_OPTIONS', 'limits.stackDepth must fit in 31 bits');
  return limits;
}

/** What one kept log line costs beside its text: the `{ level, message }` object and the string's header. */
const LOG_LINE_OVERHEAD = 64;

/**
 * Refuses log limits that would let one run fill the heap its log lines live on (`heapBytes`: the agent worker's,
 * or the host's own heap inline). Node does not always end a worker that reaches its heap limit: in one large
 * allocation it can abort the whole process (nodejs/node#47224), so a guest must not be able to get there. Log lines
 * are the one thing a run holds as JavaScript values (UTF-16 at worst: 2 bytes per UTF-8 byte); they may take half
 * the heap.
 */
export function checkLogsFitHeap(limits: Limits, heapBytes: number, heapName: string, where: string): void {
  const worst = 2 * limits.logBytes + LOG_LINE_OVERHEAD * Math.min(limits.maxLogs, limits.logBytes + 1);
  if (worst <= heapBytes / 2) return;
  const mib = (n: number) => `${Math.ceil(n / 2 ** 20)} MiB`;
  throw new SandboxError(
    'SANDBOX_INVALID_OPTIONS',
    `${where}: limits.logBytes ${limits.logBytes} with maxLogs ${limits.maxLogs} let one run hold up to ${mib(worst)} of log lines, more than half of the ${mib(heapBytes)} ${heapName}; a heap that fills can abort the whole process. Lower logBytes or maxLogs, or raise workerHeapMb`,
  );
}

// Limits are checked when given: a typo or a negative number is an error with a stable code, never "unlimited".
import { describe, expect, it } from 'vitest';
import { resolveLimits } from '../../runtime/agent/limits.ts';
import { DEFAULT_LIMITS } from '../../runtime/agent/types.ts';
import { isSandboxError } from '../../runtime/errors.ts';

describe('resolveLimits', () => {
  it('layers later values over defaults', () => {
    expect(resolveLimits({ timeoutMs: 5 }, { fuel: 7 })).toEqual({ ...DEFAULT_LIMITS, timeoutMs: 5, fuel: 7 });
  });

  it.each([
    [{ timeoutMS: 5 }, 'unknown limit'],
    [{ fuel: -1 }, 'non-negative integer'],
    [{ memoryBytes: 1.5 }, 'non-negative integer'],
    [{ memoryBytes: 1000 }, 'at least one 64 KiB page'],
    [{ timeoutMs: 0 }, 'at least 1'],
    [{ memoryBytes: 100 * 2 ** 30 }, 'at most 4 GiB'],
    [{ timeoutMs: 2 ** 31 }, 'at most 2147483647'],
  ])('rejects %j', (limits, text) => {
    let error: unknown;
    try {
      resolveLimits(limits as never);
    } catch (e) {
      error = e;
    }
    expect(isSandboxError(error, 'SANDBOX_INVALID_OPTIONS')).toBe(true);
    expect((error as Error).message).toContain(text);
  });
});

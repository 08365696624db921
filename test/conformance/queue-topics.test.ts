// Topic and pattern syntax: every backend validates and matches through runtime/queue/topics.ts, so these hold for all.
import { describe, expect, it } from 'vitest';
import { isSandboxError } from '../../runtime/errors.ts';
import { compilePattern, validatePattern, validateTopic } from '../../runtime/queue/topics.ts';

function rejects(fn: () => unknown): boolean {
  try {
    fn();
  } catch (error) {
    return isSandboxError(error, 'SANDBOX_INVALID_OPTIONS');
  }
  return false;
}

describe('queue topics', () => {
  it.each([
    ['a', 'a', true],
    ['a', 'a.b', false],
    ['a.b', 'a.b', true],
    ['a.*', 'a.b', true],
    ['a.*', 'a', false],
    ['a.*', 'a.b.c', false],
    ['*.b', 'x.b', true],
    ['*.b', 'x.c', false],
    ['a.*.c', 'a.x.c', true],
    ['a.*.c', 'a.x.y.c', false],
    ['a.>', 'a.b', true],
    ['a.>', 'a.b.c.d', true],
    ['a.>', 'a', false],
    ['a.>', 'ab.c', false],
    ['>', 'anything.at.all', true],
    ['>', 'x', true],
    ['a.*.>', 'a.b.c', true],
    ['a.*.>', 'a.b', false],
    ['*.*', 'a.b', true],
    ['*.*', 'a.b.c', false],
  ])('%s matches %s: %s', (pattern, topic, expected) => {
    expect(compilePattern(pattern)(topic)).toBe(expected);
  });

  it('rejects malformed patterns and topics', () => {
    for (const bad of ['', '.', 'a.', '.a', 'a..b', 'a.>.b', '>.a', 'a b', 'a.b*', 'a.*b', 'é', 'x'.repeat(250)]) {
      expect(
        rejects(() => validatePattern(bad)),
        JSON.stringify(bad),
      ).toBe(true);
    }
    for (const bad of ['a.*', '*', '>', 'a.>', 'a..b', '', 'a\tb', 'x'.repeat(250)]) {
      expect(
        rejects(() => validateTopic(bad)),
        JSON.stringify(bad),
      ).toBe(true);
    }
    for (const good of ['a', 'orders.eu.created', 'a-b_c:d@e', 'x'.repeat(249)]) {
      expect(
        rejects(() => validateTopic(good)),
        good,
      ).toBe(false);
    }
  });
});

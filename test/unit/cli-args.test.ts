// CLI value parsers: sizes with units, counts, JSON with BigInt.
import { describe, expect, it } from 'vitest';
import { parseBytes, parseCount, toJson, UsageError } from '../../runtime/cli/args.ts';

describe('cli args', () => {
  it.each([
    ['65536', 65536],
    ['64KiB', 65536],
    ['16MiB', 16 * 1024 * 1024],
    ['1mb', 1 << 20],
    ['1.5KiB', 1536],
  ])('parses size %s', (text, bytes) => expect(parseBytes('--memory', text)).toBe(bytes));

  it('names the option in errors', () => {
    expect(() => parseBytes('--memory', 'lots')).toThrow(/--memory/);
    expect(() => parseCount('--fuel', '-3')).toThrow(UsageError);
  });

  it('prints BigInt as a number when exact and as a string when not', () => {
    expect(toJson({ a: 5n, b: 2n ** 64n })).toBe('{"a":5,"b":"18446744073709551616"}');
  });
});

// Log records for triage benchmarks: the sample's well-formed records, repeated with advancing timestamps so bursts keep occurring.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../test/support/paths.ts';

export function triageRecords(n: number): Record<string, unknown>[] {
  const base = readFileSync(join(repoRoot, 'examples', 'logs.ndjson'), 'utf8')
    .split('\n')
    .flatMap((l) => {
      try {
        const r = JSON.parse(l) as Record<string, unknown>;
        return typeof r.ts === 'number' && typeof r.service === 'string' ? [r] : [];
      } catch {
        return [];
      }
    });
  return Array.from({ length: n }, (_, i) => {
    const r = base[i % base.length]!;
    return { ...r, ts: (r.ts as number) + Math.floor(i / base.length) * 3_600_000 };
  });
}

// Counts why runs failed, per agent, so `sandbox serve` can end with the top reasons instead of bare counts.
import type { RunResult } from '../agent/types.ts';

/** Distinct reasons kept per agent: messages that embed ids would otherwise grow the table without bound. */
const MAX_REASONS = 256;
const MAX_REASON_LENGTH = 160;

export interface FailureReason {
  reason: string;
  count: number;
}

export class FailureReasons {
  private readonly byAgent = new Map<string, Map<string, number>>();

  record(agent: string, result: RunResult): void {
    if (result.status === 'ok') return;
    let reasons = this.byAgent.get(agent);
    if (reasons === undefined) this.byAgent.set(agent, (reasons = new Map<string, number>()));
    const firstLine = (result.message ?? '').split('\n', 1)[0]!;
    let reason = firstLine === '' ? result.status : `${result.status}: ${firstLine}`;
    if (reason.length > MAX_REASON_LENGTH) reason = `${reason.slice(0, MAX_REASON_LENGTH - 1)}…`;
    const seen = reasons.get(reason);
    if (seen !== undefined) reasons.set(reason, seen + 1);
    else if (reasons.size < MAX_REASONS) reasons.set(reason, 1);
    else reasons.set('(other reasons)', (reasons.get('(other reasons)') ?? 0) + 1);
  }

  /** The most frequent reasons for an agent, most frequent first. */
  top(agent: string, n = 3): FailureReason[] {
    const reasons = this.byAgent.get(agent);
    if (reasons === undefined) return [];
    return [...reasons]
      .map(([reason, count]) => ({ reason, count }))
      .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason))
      .slice(0, n);
  }
}

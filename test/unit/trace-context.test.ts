// W3C traceparent: what is accepted as a parent, what starts a new trace, and the ids and header made for children.
import { describe, expect, it } from 'vitest';
import { formatTraceParent, newSpanId, newTraceId, parseTraceParent } from '../../runtime/ops/trace-context.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('trace context', () => {
  it('parses a version-00 traceparent, sampled or not', () => {
    expect(parseTraceParent(`00-${TRACE}-${SPAN}-01`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true });
    expect(parseTraceParent(`00-${TRACE}-${SPAN}-00`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: false });
    // A later version may append fields; its first four are read as version 00's.
    expect(parseTraceParent(`cc-${TRACE}-${SPAN}-01-extra`)?.traceId).toBe(TRACE);
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['upper-case hex', `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
    ['an all-zero span id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['version ff', `ff-${TRACE}-${SPAN}-01`],
    ['version 00 with extra fields', `00-${TRACE}-${SPAN}-01-x`],
    ['a short trace id', `00-${TRACE.slice(1)}-${SPAN}-01`],
  ])('ignores %s (a new trace starts)', (_what, value) => {
    expect(parseTraceParent(value)).toBeUndefined();
  });

  it('makes distinct, well-formed ids and formats the header they parse back from', () => {
    const traces = new Set(Array.from({ length: 1000 }, newTraceId));
    const spans = new Set(Array.from({ length: 1000 }, newSpanId));
    expect(traces.size).toBe(1000);
    expect(spans.size).toBe(1000);
    for (const t of traces) expect(t).toMatch(/^[0-9a-f]{32}$/);
    for (const s of spans) expect(s).toMatch(/^[0-9a-f]{16}$/);
    const header = formatTraceParent(TRACE, SPAN, true);
    expect(header).toBe(`00-${TRACE}-${SPAN}-01`);
    expect(parseTraceParent(header)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true });
  });
});

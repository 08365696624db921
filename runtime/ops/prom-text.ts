// A parser for the Prometheus text exposition format (version 0.0.4): samples with their labels and values.
import { SandboxError } from '../errors.ts';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseValue(text: string, line: number): number {
  // prom-client writes NaN as "Nan"; Prometheus itself accepts any case.
  switch (text.toLowerCase()) {
    case '+inf':
    case 'inf':
      return Infinity;
    case '-inf':
      return -Infinity;
    case 'nan':
      return NaN;
  }
  const v = Number(text);
  if (text.length === 0 || Number.isNaN(v))
    throw new SandboxError('SANDBOX_PROTOCOL', `metrics line ${line}: bad value ${JSON.stringify(text)}`);
  return v;
}

/** Parses `{a="x",b="y\"z"}` starting at `i` (the `{`); returns the labels and the index after `}`. */
function parseLabels(s: string, i: number, line: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  i++;
  for (;;) {
    while (s[i] === ' ' || s[i] === ',') i++;
    if (s[i] === '}') return [labels, i + 1];
    const eq = s.indexOf('=', i);
    if (eq < 0 || s[eq + 1] !== '"')
      throw new SandboxError('SANDBOX_PROTOCOL', `metrics line ${line}: malformed labels`);
    const name = s.slice(i, eq).trim();
    let value = '';
    let j = eq + 2;
    for (; j < s.length && s[j] !== '"'; j++) {
      if (s[j] === '\\') {
        const next = s[++j];
        value += next === 'n' ? '\n' : (next ?? '');
      } else value += s[j];
    }
    if (j >= s.length) throw new SandboxError('SANDBOX_PROTOCOL', `metrics line ${line}: unterminated label value`);
    labels[name] = value;
    i = j + 1;
  }
}

export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const raw = lines[n]!.trim();
    if (raw.length === 0 || raw.startsWith('#')) continue;
    const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(raw);
    if (!m)
      throw new SandboxError(
        'SANDBOX_PROTOCOL',
        `metrics line ${n + 1}: no metric name in ${JSON.stringify(raw.slice(0, 80))}`,
      );
    const name = m[0];
    let labels: Record<string, string> = {};
    let rest = raw.slice(name.length);
    if (rest.startsWith('{')) {
      const [l, end] = parseLabels(raw, name.length, n + 1);
      labels = l;
      rest = raw.slice(end);
    }
    // An optional timestamp may follow the value.
    const [value] = rest.trim().split(/\s+/);
    samples.push({ name, labels, value: parseValue(value ?? '', n + 1) });
  }
  return samples;
}

/** Sum of the samples named `name` whose labels include `match`; null when no sample has the name. */
export function sumSamples(
  samples: readonly Sample[],
  name: string,
  match: Record<string, string> = {},
): number | null {
  let found = false;
  let total = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    found = true;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return found ? total : null;
}

// Topic and pattern syntax shared by every backend: dot-separated tokens, `*` matches one token, `>` the rest.
import { SandboxError } from '../errors.ts';

/** Kafka's topic-name limit, so a topic never fits one backend and not another; also the guest ABI's (host/abi.ts). */
export const MAX_TOPIC_LENGTH = 249;
// Characters every backend accepts in a subject/topic token (NATS forbids whitespace, Kafka names are narrower
// but we carry the full topic in a header there).
const TOKEN = /^[A-Za-z0-9_\-:@$%+=~!]+$/;

function invalid(what: string, value: string, why: string): SandboxError {
  return new SandboxError('SANDBOX_INVALID_OPTIONS', `invalid ${what} ${JSON.stringify(value)}: ${why}`);
}

function checkShape(what: string, value: string): string[] {
  if (typeof value !== 'string' || value.length === 0) throw invalid(what, String(value), 'it is empty');
  if (value.length > MAX_TOPIC_LENGTH) throw invalid(what, value, `longer than ${MAX_TOPIC_LENGTH} characters`);
  return value.split('.');
}

/** Throws SANDBOX_INVALID_OPTIONS unless `topic` is a concrete topic (no wildcards). */
export function validateTopic(topic: string): void {
  for (const token of checkShape('topic', topic)) {
    if (token === '*' || token === '>')
      throw invalid('topic', topic, 'wildcards are only allowed in subscription patterns');
    if (!TOKEN.test(token))
      throw invalid('topic', topic, 'tokens must be non-empty and use letters, digits or _-:@$%+=~!');
  }
}

/** Throws SANDBOX_INVALID_OPTIONS unless `pattern` is a valid subscription pattern. */
export function validatePattern(pattern: string): string[] {
  const tokens = checkShape('pattern', pattern);
  tokens.forEach((token, i) => {
    if (token === '>') {
      if (i !== tokens.length - 1) throw invalid('pattern', pattern, '`>` must be the last token');
    } else if (token !== '*' && !TOKEN.test(token)) {
      throw invalid('pattern', pattern, 'tokens must be non-empty, `*`, `>`, or use letters, digits or _-:@$%+=~!');
    }
  });
  return tokens;
}

export type TopicMatcher = (topic: string) => boolean;

/** Compiles a validated pattern into a predicate; the common shapes avoid splitting the topic. */
export function compilePattern(pattern: string): TopicMatcher {
  const tokens = validatePattern(pattern);
  const hasStar = tokens.includes('*');
  const last = tokens[tokens.length - 1];
  if (!hasStar && last !== '>') return (topic) => topic === pattern;
  if (!hasStar && last === '>') {
    if (tokens.length === 1) return () => true;
    const prefix = pattern.slice(0, -1); // keeps the trailing dot: `a.b.>` needs at least one token after `a.b.`
    return (topic) => topic.length > prefix.length && topic.startsWith(prefix);
  }
  const rest = last === '>';
  const fixed = rest ? tokens.length - 1 : tokens.length;
  return (topic) => {
    const parts = topic.split('.');
    if (rest ? parts.length <= fixed : parts.length !== fixed) return false;
    for (let i = 0; i < fixed; i++) {
      const t = tokens[i];
      if (t !== '*' && t !== parts[i]) return false;
    }
    return true;
  };
}

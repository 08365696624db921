// The message a topology text is rejected with (tests of the topology's validation errors).
import { expect } from 'vitest';
import { isSandboxError } from '../../runtime/errors.ts';
import { parseTopology } from '../../runtime/swarm/topology.ts';

export function topologyError(text: string): string {
  try {
    parseTopology(text, { source: 't.yaml', baseDir: '/base' });
  } catch (error) {
    expect(isSandboxError(error, 'SANDBOX_INVALID_OPTIONS')).toBe(true);
    return (error as Error).message;
  }
  throw new Error('expected the topology to be rejected');
}

// The Rust SDK's host_call and grants (agents/sdk/call.rs) through `echo-rust`: answers, unknown names, failures.
import { describe, expect, it } from 'vitest';
import { ENGINES, sandboxPerBlock } from '../support/engines.ts';
import { agentPath, requireBuilt } from '../support/paths.ts';

describe.each(ENGINES)('rust sdk: host_call (%s)', (engine) => {
  const sandbox = sandboxPerBlock(engine);
  const load = () =>
    sandbox().load(requireBuilt(agentPath('echo-rust')), {
      limits: { timeoutMs: 20_000 },
      host: {
        'math.double': (n: number) => n * 2,
        'math.fail': async () => {
          throw new Error('cannot');
        },
      },
    });

  it('calls a host function and decodes its answer', async () => {
    const agent = await load();
    const r = await agent.run({ $call: 'math.double', arg: 21 });
    expect(r.status, r.message).toBe('ok');
    expect(r.output).toEqual({ result: 42 });
    agent.close();
  });

  it("an ungranted name is E_UNAVAILABLE and a failing function E_HOST, with the host's words", async () => {
    const agent = await load();
    expect((await agent.run({ $call: 'math.triple', arg: 1 })).output).toEqual({
      status: -4,
      error: 'no host function "math.triple" was granted to this agent',
    });
    expect((await agent.run({ $call: 'math.fail' })).output).toEqual({
      status: -5,
      error: 'host function math.fail failed: cannot',
    });
    agent.close();
  });

  it('lists its grants', async () => {
    const agent = await load();
    expect((await agent.run({ $grants: true })).output).toEqual({
      host: ['math.double', 'math.fail'],
      config: [],
      http: [],
      graph: false,
    });
    agent.close();
  });
});

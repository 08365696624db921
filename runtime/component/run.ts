// The worker's side of `Sandbox.runComponent`: compile (cached), instantiate, initialise and run a component once.
import { thrownOutcome, type GuestOutcome } from '../agent/outcome.ts';
import type { WasmNamespace } from '../engine/namespace.ts';
import type { ComponentRequest } from '../worker/protocol.ts';
import { compileComponent } from './compile.ts';
import { ComponentGuest } from './guest.ts';

/** Never throws: a bad component is 'invalid-module', anything unexpected 'crashed'. Runs guest code: workers only. */
export function runComponentRequest(wa: WasmNamespace, req: ComponentRequest): GuestOutcome {
  try {
    const compiled = compileComponent(wa, `${req.engine}:component:${req.key}`, req, req.limits);
    const created = ComponentGuest.create(wa, compiled, req.limits, req.engine);
    return created instanceof ComponentGuest ? created.run(req.input) : created;
  } catch (error) {
    return thrownOutcome(error, req.engine);
  }
}

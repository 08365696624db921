// Subpath `wasm-agent-sandbox/instrument`: the metering instrumenter, for other tools and engines.
export {
  instrument,
  instrumentWithReport,
  ModuleError,
  isModuleError,
  SANDBOX_EXPORTS,
  SANDBOX_FLAGS,
  type InstrumentOptions,
  type InstrumentReport,
  type ModuleErrorCode,
} from '../module/instrument.ts';
/** With `exportGlobals`: the names of the functions that read and write the numeric mutable globals. */
export { STATE_GLOBAL_EXPORTS } from '../module/state-globals.ts';

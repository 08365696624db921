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

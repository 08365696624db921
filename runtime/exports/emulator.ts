// Subpath `wasm-agent-sandbox/emulator`: the WebAssembly engine written in TypeScript, shaped like the `WebAssembly` namespace.
export { emulator } from '../engine/emulator/index.ts';
export { selectEngine, hasWebAssembly, type EngineSelection } from '../engine/select.ts';

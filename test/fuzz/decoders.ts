// Feeds one input to every decoder an untrusted party reaches and says which ones broke their error contract.

import { checkMessagePack, decode, valueBoundaries } from '../../runtime/codec.ts';
import { CompileError, emulator } from '../../runtime/engine/emulator/index.ts';
import { decodeModule } from '../../runtime/module/decode.ts';
import { instrument, isModuleError } from '../../runtime/module/instrument.ts';

/** A decoder that threw something outside its contract, or disagreed with V8 about a module's validity. */
export interface DecoderFinding {
  decoder: string;
  error: string;
}

const describe = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

/**
 * A module's bytes must give the instrumenter's decoder a result or a ModuleError, instrument() a module V8
 * accepts or a ModuleError, and the emulator a Module or a CompileError, with the same verdict as
 * WebAssembly.validate for every module the instrumenter does not refuse as an unsupported feature.
 */
export function checkModuleBytes(bytes: Uint8Array): DecoderFinding[] {
  const findings: DecoderFinding[] = [];
  try {
    decodeModule(bytes);
  } catch (e) {
    if (!isModuleError(e)) findings.push({ decoder: 'module/decode', error: describe(e) });
  }
  // A module using a proposal the instrumenter refuses never runs on any engine: validity then may differ.
  let unsupported = false;
  try {
    const out = instrument(bytes);
    if (!WebAssembly.validate(out))
      findings.push({ decoder: 'instrument', error: 'instrumented module does not validate on V8' });
  } catch (e) {
    if (!isModuleError(e)) findings.push({ decoder: 'instrument', error: describe(e) });
    else unsupported = e.code === 'UNSUPPORTED_FEATURE';
  }
  const v8Valid = WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>);
  let emuValid = true;
  try {
    new emulator.Module(bytes as Uint8Array<ArrayBuffer>);
  } catch (e) {
    emuValid = false;
    if (!(e instanceof CompileError)) findings.push({ decoder: 'emulator', error: describe(e) });
    else if (v8Valid && !unsupported && !/SIMD/.test(e.message))
      findings.push({ decoder: 'emulator vs V8 validate', error: `V8 accepts, emulator: ${e.message}` });
  }
  if (emuValid && !v8Valid)
    findings.push({ decoder: 'emulator vs V8 validate', error: 'the emulator accepts a module V8 refuses' });
  return findings;
}

/** MessagePack from a guest: the host's readers return a value or throw a RangeError, and agree with each other. */
export function checkMessagePackBytes(bytes: Uint8Array): DecoderFinding[] {
  const findings: DecoderFinding[] = [];
  let verdict: string | null = null;
  try {
    verdict = checkMessagePack(bytes);
  } catch (e) {
    findings.push({ decoder: 'checkMessagePack', error: `threw ${describe(e)}` });
  }
  let decoded = true;
  try {
    decode(bytes);
  } catch (e) {
    decoded = false;
    if (!(e instanceof RangeError)) findings.push({ decoder: 'decode', error: describe(e) });
  }
  // decode may refuse what the structural check passed (nesting deeper than the stack), never the reverse.
  if (decoded && verdict !== null)
    findings.push({ decoder: 'decode vs checkMessagePack', error: `decoded although: ${verdict}` });
  try {
    valueBoundaries(bytes, 0, 1);
  } catch (e) {
    if (!(e instanceof RangeError)) findings.push({ decoder: 'valueBoundaries', error: describe(e) });
  }
  return findings;
}

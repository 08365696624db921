// Decoder fuzzing in `npm test`: damaged modules and MessagePack give typed errors (never another throw, a hang or a crash).

import { parse } from '@bytecodealliance/jco';
import { describe, expect, it } from 'vitest';
import { decode } from '../../runtime/codec.ts';
import { rng } from '../support/rng.ts';
import { checkMessagePackBytes, checkModuleBytes } from './decoders.ts';
import { generateModule } from './generate.ts';
import { mutate } from './mutate.ts';
import { messagePackDocument } from './values.ts';

describe('decoder fuzzing', () => {
  it('module decoders: 1,200 damaged modules give a ModuleError or CompileError, with the same verdict as V8', async () => {
    const rnd = rng(12);
    for (let seed = 1; seed <= 30; seed++) {
      const base = await parse(generateModule(seed).wat);
      for (let k = 0; k < 40; k++) {
        const bytes = mutate(base, rnd);
        expect(
          checkModuleBytes(bytes),
          `module seed ${seed}, mutation ${k}: ${Buffer.from(bytes).toString('base64')}`,
        ).toEqual([]);
      }
    }
  }, 60_000);

  it('MessagePack readers: 6,000 damaged documents give a value or a RangeError, and the check agrees with decode', () => {
    const rnd = rng(34);
    for (let k = 0; k < 6_000; k++) {
      const bytes = mutate(messagePackDocument(rnd), rnd);
      expect(checkMessagePackBytes(bytes), `document ${k}: ${Buffer.from(bytes).toString('base64')}`).toEqual([]);
    }
  });

  // Found by this fuzzing: msgpackr threw Error or TypeError (a structured-clone pointer with no reference map) for
  // extension types the structural check let through, and built guest-chosen Error/RegExp/Set objects on the host.
  it('refuses every MessagePack extension but the timestamp, with a RangeError', () => {
    for (const bytes of [
      [0xc7, 1, 5, 0],
      [0xc7, 1, 0x70, 0x90],
      [0xd4, 0x78, 0],
      [0xd5, 0x72, 1, 2],
      [0xd6, 0x7f, 0, 0, 0, 0],
      [0xd4, 0x65, 0x90],
    ]) {
      expect(() => decode(new Uint8Array(bytes)), bytes.join(',')).toThrow(
        /extension type .* is not part of the guest ABI/,
      );
      expect(checkMessagePackBytes(new Uint8Array(bytes))).toEqual([]);
    }
    expect(decode(new Uint8Array([0xd6, 0xff, 0, 0, 0, 1]))).toEqual(new Date(1000));
  });

  it('nesting deeper than the stack is a RangeError from decode, not a stack overflow escaping', () => {
    const deep = new Uint8Array(200_001).fill(0x91);
    deep[200_000] = 0xc0;
    expect(() => decode(deep)).toThrow(RangeError);
    expect(() => decode(deep)).toThrow(/not decodable MessagePack/);
  });
});

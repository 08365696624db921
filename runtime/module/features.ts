// The feature allowlist: the Wasm 2.0 features we accept (and report), and the proposals we refuse by name.

/** Wasm 2.0 features a module may use; the instrumenter reports which ones it saw. */
export const Feature = {
  mutableGlobals: 1 << 0,
  signExt: 1 << 1,
  satFloatToInt: 1 << 2,
  bulkMemory: 1 << 3,
  multiValue: 1 << 4,
  referenceTypes: 1 << 5,
  simd: 1 << 6,
} as const;

const NAMES: ReadonlyArray<readonly [number, string]> = [
  [Feature.mutableGlobals, 'mutable-globals'],
  [Feature.signExt, 'sign-ext'],
  [Feature.satFloatToInt, 'sat-float-to-int'],
  [Feature.bulkMemory, 'bulk-memory'],
  [Feature.multiValue, 'multi-value'],
  [Feature.referenceTypes, 'reference-types'],
  [Feature.simd, 'simd'],
];

export function featureNames(mask: number): string[] {
  return NAMES.filter(([bit]) => (mask & bit) !== 0).map(([, name]) => name);
}

/**
 * Proposals we refuse, with the reason. We can only meter what we can count: atomics wait/notify block
 * outside our counter, exceptions unwind past our write-backs, tail calls skip our epilogues, GC allocates
 * without a byte count, memory64/multi-memory change the operands our bulk-op charges read, and relaxed
 * SIMD is nondeterministic across engines by design.
 */
export const REFUSED_FEATURES = {
  threads: 'shared memories and atomic instructions',
  'exception-handling': 'try/catch/throw, tags and exnref',
  'tail-call': 'return_call and return_call_indirect',
  'function-references': 'typed function references (call_ref, (ref $t), non-nullable references)',
  gc: 'struct/array types, recursive type groups and GC instructions',
  memory64: '64-bit memories and tables',
  'multi-memory': 'more than one memory',
  'relaxed-simd': 'relaxed SIMD instructions (results differ between engines)',
  'extended-const': 'arithmetic in constant expressions',
  'custom-page-sizes': 'memories with a non-default page size',
  'component-model': 'a component, not a core module',
} as const;

export type RefusedFeature = keyof typeof REFUSED_FEATURES;

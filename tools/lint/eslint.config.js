// ESLint for the project (typescript-eslint, strict type-checked); `npm run lint [-- paths]` runs it from the repository root.
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const root = fileURLToPath(new URL('../..', import.meta.url));

export default tseslint.config(
  {
    basePath: root,
    ignores: [
      'dist/**',
      'node_modules/**',
      'tools/**',
      '.tools/**',
      '.services/**',
      '.scratch/**',
      'assembly/**',
      'agents/**',
      'fixtures/**',
      'components/**',
      'bin/**',
      '**/*.mjs',
      '**/*.js',
      'scripts/package-check/**',
    ],
  },
  {
    basePath: root,
    files: ['**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.strictTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: root } },
    rules: {
      // With noUncheckedIndexedAccess, `xs[i]!` after a bounds check is this code base's idiom, not a hidden risk.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Template literals with numbers are how this code base writes messages.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
    },
  },
);

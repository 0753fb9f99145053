// Lint: typed rules for the whole project, and the Temporal workflow sandbox guarded by rules rather
// than comments. WORKFLOW_SANDBOX lists every file the workflow bundle may load; test/lint.test.ts
// checks that the workflow's import graph stays inside it and that the rules below really fire.
import { builtinModules } from 'node:module';
import simpleImportSort from 'eslint-plugin-simple-import-sort';
import tseslint from 'typescript-eslint';

export const WORKFLOW_SANDBOX = [
  'workflows/**/*.ts',
  'activities/**/*.workflow.ts',
  'activities/**/*.stage.ts',
  'activities/runs/stage-definition.ts',
  'activities/runs/types.ts',
  'activities/synth/synth-options.ts',
  'config/constants.ts',
  'config/schema-parts.ts',
  'config/failure-converter.ts', // bundled by failureConverterPath
];

// A value import from a relative module must name another sandbox file; anything else (activity
// implementations, storage, config loaders) may only be imported as a type.
const SANDBOX_MODULE = String.raw`(?:.*/)?(?:[^/]+\.stage|[^/]+\.workflow|stage-definition|types|synth-options|constants|schema-parts|pre-registry|pipeline-run|workflows)$`;

export default tseslint.config(
  { ignores: ['node_modules/**', '.tools/**', 'data/**', 'test/fixtures/**', 'bench/.venv/**'] },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin, 'simple-import-sort': simpleImportSort },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test runs the promises describe/it return itself.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'before', 'after', 'beforeEach', 'afterEach'] }] },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
      'simple-import-sort/imports': 'error',
      'simple-import-sort/exports': 'error',
    },
  },
  {
    files: WORKFLOW_SANDBOX,
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: builtinModules.map((name) => ({ name, message: 'workflow code is deterministic: no Node built-ins' })),
          patterns: [
            { regex: '^node:', message: 'workflow code is deterministic: no Node built-ins' },
            {
              regex: `^\\.{1,2}/(?!${SANDBOX_MODULE})`,
              allowTypeImports: true,
              message: 'workflow code imports activities and other Node-side modules as types only (`import type`)',
            },
          ],
        },
      ],
    },
  },
);

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

import { ESLint } from 'eslint';
import ts from 'typescript';

const ROOT = resolve(__dirname, '..');
const RESTRICTED_IMPORTS = '@typescript-eslint/no-restricted-imports';

/** Relative modules a file imports as values (type-only imports and exports are erased, so they don't count). */
function valueImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const specifiers: string[] = [];
  for (const statement of source.statements) {
    if (ts.isImportDeclaration(statement)) {
      const clause = statement.importClause;
      const typeOnly =
        clause?.isTypeOnly ||
        (clause && !clause.name && clause.namedBindings && ts.isNamedImports(clause.namedBindings) && clause.namedBindings.elements.every((element) => element.isTypeOnly));
      if (!typeOnly) specifiers.push((statement.moduleSpecifier as ts.StringLiteral).text);
    } else if (ts.isExportDeclaration(statement) && statement.moduleSpecifier && !statement.isTypeOnly) {
      const clause = statement.exportClause;
      const typeOnly = clause && ts.isNamedExports(clause) && clause.elements.every((element) => element.isTypeOnly);
      if (!typeOnly) specifiers.push((statement.moduleSpecifier as ts.StringLiteral).text);
    }
  }
  return specifiers
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) => {
      const base = resolve(dirname(file), specifier);
      const found = [`${base}.ts`, join(base, 'index.ts')].find((candidate) => existsSync(candidate));
      assert.ok(found, `${relative(ROOT, file)} imports ${specifier}, which does not resolve`);
      return found;
    });
}

/** Every file the workflow bundle loads, following value imports from workflows/index.ts. */
function workflowImportGraph(): string[] {
  const seen = new Set<string>();
  const pending = [join(ROOT, 'workflows', 'index.ts')];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    pending.push(...valueImports(file));
  }
  return [...seen].map((file) => relative(ROOT, file)).sort();
}

describe('lint guards the workflow sandbox', () => {
  const eslint = new ESLint({ cwd: ROOT });

  async function ruleIdsFor(filePath: string, code: string): Promise<string[]> {
    const [result] = await eslint.lintText(code, { filePath: join(ROOT, filePath) });
    return result!.messages.map((message) => message.ruleId ?? message.message);
  }

  it('covers every file the workflow code imports', async () => {
    const graph = workflowImportGraph();
    assert.ok(graph.includes('activities/synth/generate-series.workflow.ts'), graph.join(', '));
    for (const file of graph) {
      const config = (await eslint.calculateConfigForFile(join(ROOT, file))) as { rules?: Record<string, unknown> };
      assert.ok(config.rules?.[RESTRICTED_IMPORTS], `${file} is loaded by the workflow but not in eslint.config.mjs WORKFLOW_SANDBOX`);
    }
  });

  it('refuses a Node built-in in a workflow file, in both spellings', async () => {
    const planted = "import { readFileSync } from 'node:fs';\nimport { join } from 'path';\n\nexport const read = (): string => readFileSync(join('a', 'b'), 'utf8');\n";
    const found = await ruleIdsFor('workflows/pipeline-run.ts', planted);
    assert.deepEqual(found.filter((rule) => rule === RESTRICTED_IMPORTS), [RESTRICTED_IMPORTS, RESTRICTED_IMPORTS], found.join(', '));
  });

  it('refuses a value import of activity code in workflow files, and accepts it as a type', async () => {
    const valueImport = "import { createActivities } from '../activities';\n\nexport const make = createActivities;\n";
    assert.deepEqual(await ruleIdsFor('workflows/pipeline-run.ts', valueImport), [RESTRICTED_IMPORTS]);
    const sameFolder = "import { loadSeries } from './generate-series';\n\nexport const load = loadSeries;\n";
    assert.deepEqual(await ruleIdsFor('activities/synth/generate-series.workflow.ts', sameFolder), [RESTRICTED_IMPORTS]);
    const typeImport = "import type { createActivities } from '../activities';\n\nexport type Make = typeof createActivities;\n";
    assert.deepEqual(await ruleIdsFor('workflows/pipeline-run.ts', typeImport), []);
  });

  it('refuses a floating promise anywhere', async () => {
    const planted = 'export function start(run: () => Promise<void>): void {\n  run();\n}\n';
    assert.deepEqual(await ruleIdsFor('client/run-report.ts', planted), ['@typescript-eslint/no-floating-promises']);
  });
});

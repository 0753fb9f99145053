/**
 * npm run synth -- generate|import|qa: the synthetic data engine without a server, on the same domain
 * functions the stages run (load-spec, generate, dataset-qa), with the same field-path errors.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

import { Presets, SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import { stringify } from 'yaml';

import { bitLayoutFiles } from '../activities/qa/bit-layout';
import { analyseDataset } from '../activities/qa/dataset-qa';
import { QA_LAYOUTS } from '../activities/qa/qa.stage';
import { writeTableFile } from '../activities/synth/generate';
import { loadSynthSpec } from '../activities/synth/load-spec';
import { SpecError } from '../activities/synth/spec';
import { SPEC_FORMATS, type SpecFormat } from '../activities/synth/synth-options';

const integer = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number ≥ 0');
  return n;
};

function progress(total: number, unit: string): { update(n: number): void; stop(): void } {
  if (!process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const bar = new SingleBar({ format: `{bar} {percentage}% | {value}/{total} ${unit}`, stream: process.stderr }, Presets.shades_classic);
  bar.start(total, 0);
  return { update: (n) => bar.update(Math.min(n, total)), stop: () => bar.stop() };
}

function printWarnings(warnings: string[]): void {
  for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
}

async function run(action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (err) {
    if (err instanceof SpecError) {
      process.stderr.write(`${err.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  }
}

const program = new Command('synth').description('Synthetic data from a spec (native, exhibit or BIT summary statistics), without a server');
const formatOption = (command: Command): Command =>
  command
    .option('--spec-format <format>', `${SPEC_FORMATS.join('|')}`, 'auto')
    .option('--anon-db <path>', "exhibit's anonymisation database (exhibit/db/exhibit.db) for values beyond the inline limit");

formatOption(program.command('generate <spec>'))
  .description('Generate every table of a spec')
  .requiredOption('-o, --out <dir>', 'output folder')
  .option('--rows <n>', 'rows per table (overrides the spec)', integer)
  .option('--seed <n>', 'seed (overrides the spec)', integer)
  .option('--format <format>', 'csv|tsv', 'csv')
  .action((specPath: string, options: { out: string; rows?: number; seed?: number; format: string; specFormat: SpecFormat; anonDb?: string }) =>
    run(async () => {
      if (options.format !== 'csv' && options.format !== 'tsv') throw new SpecError([`--format: "${options.format}" is not csv or tsv`]);
      const { spec: loaded, warnings } = await loadSynthSpec(specPath, options.specFormat, { ...(options.anonDb ? { anonDb: options.anonDb } : {}) });
      printWarnings(warnings);
      const spec = {
        ...loaded,
        ...(options.seed === undefined ? {} : { seed: options.seed }),
        tables: loaded.tables.map((table) => (options.rows === undefined ? table : { ...table, rows: options.rows })),
      };
      await mkdir(options.out, { recursive: true });
      await writeFile(join(options.out, 'spec.json'), `${JSON.stringify(spec, null, 2)}\n`);
      for (const table of spec.tables) {
        const path = join(options.out, `${table.name}.${options.format}`);
        const bar = progress(table.rows, 'rows');
        const started = performance.now();
        let bytesPerRow = 0;
        const written = await writeTableFile(spec, table.name, path, {
          format: options.format,
          onProgress: (bytes) => {
            bytesPerRow ||= bytes > 0 ? bytes / Math.min(table.rows, 4096) : 0;
            if (bytesPerRow) bar.update(Math.round(bytes / bytesPerRow));
          },
        });
        bar.update(table.rows);
        bar.stop();
        process.stdout.write(`${path}: ${table.rows} rows, ${written.bytes} bytes, sha256 ${written.sha256}, ${((performance.now() - started) / 1000).toFixed(2)} s\n`);
      }
    }),
  );

formatOption(program.command('import <file>'))
  .description('Import an exhibit spec or BIT summary statistics as a native spec (YAML or JSON by extension)')
  .requiredOption('-o, --out <file>', 'native spec file to write')
  .action((file: string, options: { out: string; specFormat: SpecFormat; anonDb?: string }) =>
    run(async () => {
      const { spec, warnings } = await loadSynthSpec(file, options.specFormat, { ...(options.anonDb ? { anonDb: options.anonDb } : {}) });
      printWarnings(warnings);
      await writeFile(options.out, options.out.endsWith('.json') ? `${JSON.stringify(spec, null, 2)}\n` : stringify(spec));
      process.stdout.write(`${options.out}: ${spec.tables.map((table) => `${table.name} (${table.columns.length} columns, ${table.rows} rows)`).join(', ')}\n`);
    }),
  );

formatOption(program.command('qa <spec> <data>'))
  .description('QA of a data file against its spec (the qa stage\'s checks), as JSON on stdout')
  .option('--table <name>', 'table of the spec (the first by default)')
  .option('--layout <layout>', `${QA_LAYOUTS.join('|')}: bit prints the three files of BIT's R QA layout, keyed by the cleaned dataset name`, 'per-dataset')
  .action((specPath: string, data: string, options: { table?: string; specFormat: SpecFormat; anonDb?: string; layout: string }) =>
    run(async () => {
      if (!(QA_LAYOUTS as readonly string[]).includes(options.layout)) throw new SpecError([`--layout: "${options.layout}" is not one of ${QA_LAYOUTS.join(', ')}`]);
      const { spec, warnings } = await loadSynthSpec(specPath, options.specFormat, { ...(options.anonDb ? { anonDb: options.anonDb } : {}) });
      printWarnings(warnings);
      const table = options.table === undefined ? spec.tables[0]! : spec.tables.find((candidate) => candidate.name === options.table);
      if (!table) throw new SpecError([`--table: the spec has no table "${options.table}"`]);
      const bar = progress(table.rows, 'rows');
      const qa = await analyseDataset(data, table, data.endsWith('.tsv') ? '\t' : ',', (rows) => bar.update(rows));
      bar.stop();
      const dataset = basename(data).replace(/\.(csv|tsv)$/, '');
      const output = options.layout === 'bit' ? bitLayoutFiles([{ name: dataset, qa }]) : { dataset: basename(data), ...qa };
      process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
    }),
  );

void program.parseAsync(process.argv);

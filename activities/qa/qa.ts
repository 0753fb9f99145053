/**
 * qa: QA of the datasets of the stage before it (every period of a generate-series stage, or the table
 * of a generate-synthetic stage) against their spec. Writes qa/<run id>/<dataset>/ JSON files and
 * plots, and qa/<run id>/report.html.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { BadInputError } from '../errors';
import { DATA_ROOT_LAYERS, dataRootFile } from '../runs/data-root';
import type { StageConfigFor } from '../runs/stage-definition';
import type { StageContext, StageImplementation } from '../runs/stage-runner';
import type { StageOutputs } from '../runs/types';
import { writeFileAtomic } from '../storage/atomic-write';
import type { SeriesDatasetEntry } from '../synth/generate-series';
import { loadSynthSpec } from '../synth/load-spec';
import { SpecError, type TableSpec } from '../synth/spec';
import { bitLayoutFiles, cleanNames } from './bit-layout';
import { analyseDataset } from './dataset-qa';
import type { qaStage } from './qa.stage';
import { cumulativeDistributionSvg, htmlReport, ksVerdict, type ReportDataset } from './report';

type QaConfig = StageConfigFor<typeof qaStage>;

interface Dataset {
  name: string;
  path: string;
  delimiter: ',' | '\t';
}

/** The datasets the stage before produced, from the references it gave: a series' dataset index, or a table. */
async function datasetsOf(context: StageContext<QaConfig>, table: TableSpec): Promise<Dataset[]> {
  const { upstream } = context.request;
  const seriesIndex = upstream['generate-series']?.datasets;
  if (seriesIndex) {
    const entries = JSON.parse(await readFile(fileURLToPath(seriesIndex.uri), 'utf8')) as SeriesDatasetEntry[];
    return entries.map((entry) => datasetAt(entry.name, fileURLToPath(entry.uri)));
  }
  const generated = upstream['generate-synthetic']?.[table.name];
  if (generated) {
    const path = fileURLToPath(generated.uri);
    return [datasetAt(basename(path).replace(/\.(csv|tsv)$/, ''), path)];
  }
  throw new BadInputError(`qa needs a generate-series or generate-synthetic stage with table "${table.name}" before it`);
}

const datasetAt = (name: string, path: string): Dataset => ({ name, path, delimiter: path.endsWith('.tsv') ? '\t' : ',' });

async function loadTable(dataRoot: string, stage: QaConfig): Promise<{ table: TableSpec; text: string }> {
  try {
    const { spec, text } = await loadSynthSpec(dataRootFile(dataRoot, stage.spec, 'spec'), stage.specFormat);
    const table = stage.table === undefined ? spec.tables[0] : spec.tables.find((candidate) => candidate.name === stage.table);
    if (!table) throw new BadInputError(`table: the spec has no table "${stage.table}"`);
    return { table, text };
  } catch (err) {
    if (err instanceof SpecError) throw new BadInputError(err.message);
    throw err;
  }
}

export const qaImplementation: StageImplementation<typeof qaStage> = {
  version: 1,
  async preflight({ dataRoot, stage }) {
    await loadTable(dataRoot, stage);
  },
  async inputs(context) {
    const { table, text } = await loadTable(context.dataRoot, context.request.stage);
    const datasets = await datasetsOf(context, table);
    const files = await Promise.all(datasets.map(async (dataset) => ({ path: dataset.path, ...(({ size, mtimeMs }) => ({ size, mtimeMs }))(await stat(dataset.path)) })));
    // The default layout hashes as before the option existed, so earlier runs' QA is still reused.
    const { layout, ...stage } = context.request.stage;
    return { spec: text, stage: layout === 'per-dataset' ? stage : context.request.stage, files };
  },
  async run(context) {
    const { dataRoot, request, logger, reportProgress } = context;
    const { alpha, layout } = request.stage;
    const { table } = await loadTable(dataRoot, request.stage);
    const datasets = await datasetsOf(context, table);
    const folder = join(dataRoot, DATA_ROOT_LAYERS.qa, request.runId);
    const reportDatasets: ReportDataset[] = [];
    const outputs: StageOutputs = {};
    for (const dataset of datasets) {
      const qa = await analyseDataset(dataset.path, table, dataset.delimiter, (rows) => reportProgress({ dataset: dataset.name, rows }));
      const pValues = qa.corr_p_values.map((entry) => entry.p_value);
      const verdict = ksVerdict(pValues, alpha);
      const plotSvg = await cumulativeDistributionSvg(`${dataset.name}: cumulative distribution of p-values`, pValues);
      logger.info({ event: 'QualityAssurance', dataset: dataset.name, rows: qa.rows, pValues: pValues.length, warnings: qa.warnings.length, ksPValue: verdict.ks_p_value, passed: verdict.passed }, 'dataset checked');
      reportProgress({ dataset: dataset.name });
      reportDatasets.push({ name: dataset.name, qa, verdict, plotSvg });
      if (layout === 'bit') continue; // one file per batch, below
      const out = join(folder, dataset.name);
      await Promise.all([
        writeFileAtomic(join(out, 'numerical_metrics_comparison.json'), JSON.stringify(qa.numerical_metrics_comparison, null, 2)),
        writeFileAtomic(join(out, 'categorical_metrics_comparison.json'), JSON.stringify(qa.categorical_metrics_comparison, null, 2)),
        writeFileAtomic(join(out, 'total_variation_distance.json'), JSON.stringify(qa.total_variation_distance, null, 2)),
        writeFileAtomic(join(out, 'corr_p_values.json'), JSON.stringify(qa.corr_p_values.map(({ statistic: _statistic, ...entry }) => entry), null, 2)),
        writeFileAtomic(join(out, 'corr_p_values_WARNING_notes.json'), JSON.stringify(qa.warnings, null, 2)),
        writeFileAtomic(join(out, 'ks_test.json'), JSON.stringify(verdict, null, 2)),
        writeFileAtomic(join(out, 'cumulative_distribution.svg'), plotSvg),
      ]);
      outputs[dataset.name] = { uri: pathToFileURL(out).href };
    }
    if (layout === 'bit') {
      const files = bitLayoutFiles(reportDatasets);
      const keys = cleanNames(reportDatasets.map((dataset) => dataset.name));
      const notes = Object.fromEntries(reportDatasets.map((dataset, i) => [keys[i]!, dataset.qa.warnings]));
      for (const [file, content] of [...Object.entries(files), ['corr_p_values_WARNING_notes.json', notes] as const]) {
        const path = join(folder, file);
        await writeFileAtomic(path, `${JSON.stringify(content, null, 2)}\n`);
        outputs[file.replace(/\.json$/, '')] = { uri: pathToFileURL(path).href };
      }
    }
    const allPValues = reportDatasets.flatMap((dataset) => dataset.qa.corr_p_values.map((entry) => entry.p_value));
    const overall = { verdict: ksVerdict(allPValues, alpha), plotSvg: await cumulativeDistributionSvg(`All ${reportDatasets.length} datasets: cumulative distribution of p-values`, allPValues) };
    const summary = {
      alpha,
      overall: overall.verdict,
      datasets: reportDatasets.map((dataset) => ({ name: dataset.name, rows: dataset.qa.rows, ...dataset.verdict })),
    };
    await writeFileAtomic(join(folder, 'summary.json'), JSON.stringify(summary, null, 2));
    await writeFileAtomic(join(folder, 'cumulative_distribution_all.svg'), overall.plotSvg);
    const reportPath = join(folder, 'report.html');
    await writeFileAtomic(reportPath, htmlReport(`QA of ${table.name}`, reportDatasets, overall, alpha));
    return { ...outputs, report: { uri: pathToFileURL(reportPath).href }, summary: { uri: pathToFileURL(join(folder, 'summary.json')).href } };
  },
};

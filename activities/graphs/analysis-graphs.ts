/** analysis-graphs: charts and CSVs of message-shaped data into graphs/<run id>/. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import type { TopLevelSpec } from 'vega-lite';

import { renderSvg, svgToPdf, svgToPng } from '../charts/render';
import { BadInputError } from '../errors';
import { DATA_ROOT_LAYERS, dataRootFile } from '../runs/data-root';
import type { StageConfigFor } from '../runs/stage-definition';
import type { StageContext, StageImplementation } from '../runs/stage-runner';
import type { StageOutputs } from '../runs/types';
import { yieldToEventLoop } from '../runs/yield-point';
import { writeFileAtomic } from '../storage/atomic-write';
import { digestFile } from '../storage/hashing';
import { csvOf, summariseMessages } from './analysis';
import type { analysisGraphsStage } from './analysis-graphs.stage';

type GraphsConfig = StageConfigFor<typeof analysisGraphsStage>;

function inputFile(dataRoot: string, input: string): string {
  const path = dataRootFile(dataRoot, input, 'input');
  // A missing file is bad input: retrying cannot make it appear.
  if (!existsSync(path)) throw new BadInputError(`input: ${input} does not exist in the data root`);
  return path;
}

function inputPath(context: StageContext<GraphsConfig>): string {
  const { input } = context.request.stage;
  if (typeof input === 'string') return inputFile(context.dataRoot, input);
  if (input.stage === 'generate-outputs') {
    const messages = context.request.upstream['generate-outputs']?.['messages.csv'];
    if (!messages) throw new BadInputError('input: no generate-outputs stage with messages.csv before analysis-graphs');
    return fileURLToPath(messages.uri);
  }
  const generated = context.request.upstream['generate-synthetic']?.[input.table];
  if (!generated) throw new BadInputError(`input: no generate-synthetic stage with table "${input.table}" before analysis-graphs`);
  return fileURLToPath(generated.uri);
}

function barChart(title: string, values: object[], x: { field: string; title: string }, y: { field: string; title: string }, labelAngle = 0): TopLevelSpec {
  return {
    title,
    width: Math.max(360, Math.min(900, values.length * 64)),
    height: 280,
    data: { values },
    mark: { type: 'bar', tooltip: true },
    encoding: {
      x: { field: x.field, type: 'ordinal', title: x.title, sort: null, axis: { labelAngle, labelLimit: 160 } },
      y: { field: y.field, type: 'quantitative', title: y.title },
    },
  };
}

export const analysisGraphsImplementation: StageImplementation<typeof analysisGraphsStage> = {
  version: 2, // 2: control codes after the others; generate-outputs input
  async inputs(context) {
    const path = inputPath(context);
    return { input: (await digestFile(path)).sha256, stage: context.request.stage };
  },
  async run(context) {
    const { request, dataRoot, logger, signal } = context;
    const stage = request.stage;
    const path = inputPath(context);
    const blankCells = typeof stage.input === 'object' && stage.input.stage === 'generate-outputs' ? 'not-in-scheme' : 'not-coded';
    const summary = await summariseMessages(path, path.endsWith('.tsv') ? '\t' : ',', stage, blankCells, (rows) => context.reportProgress({ rowsRead: rows }), signal);
    const folder = join(dataRoot, DATA_ROOT_LAYERS.graphs, request.runId);
    const outputs: StageOutputs = {};
    const periodName = typeof stage.period === 'object' ? 'episode' : stage.period;
    const graphs = 2 + summary.codes.length;
    let done = 0;

    // Rendering is synchronous CPU work: between files the event loop gets a turn, so the heartbeat goes
    // out and a cancellation is seen; writeFileAtomic removes its temporary file when it is interrupted.
    const emit = async (name: string, csv: string, chart: TopLevelSpec): Promise<void> => {
      await yieldToEventLoop(signal);
      await writeFileAtomic(join(folder, `${name}.csv`), csv);
      outputs[`${name}.csv`] = { uri: pathToFileURL(join(folder, `${name}.csv`)).href };
      const svg = await renderSvg(chart);
      for (const format of stage.formats) {
        await yieldToEventLoop(signal);
        const file = join(folder, `${name}.${format}`);
        await writeFileAtomic(file, format === 'svg' ? svg : format === 'png' ? await svgToPng(svg) : await svgToPdf(svg, context.now()));
        outputs[`${name}.${format}`] = { uri: pathToFileURL(file).href };
      }
      done += 1;
      context.reportProgress({ graphs: done, of: graphs });
    };

    const angle = summary.perPeriod.length > 8 ? -45 : 0;
    await emit(
      `messages_per_${periodName}`,
      csvOf([periodName, 'messages'], summary.perPeriod.map((row) => [row.period, row.messages])),
      barChart(`Messages per ${periodName}`, summary.perPeriod, { field: 'period', title: summary.periodTitle }, { field: 'messages', title: 'Messages' }, angle),
    );
    await emit(
      `participants_per_${periodName}`,
      csvOf([periodName, 'participants'], summary.perPeriod.map((row) => [row.period, row.participants])),
      barChart(`Unique participants per ${periodName}`, summary.perPeriod, { field: 'period', title: summary.periodTitle }, { field: 'participants', title: 'Participants' }, angle),
    );
    for (const scheme of summary.codes) {
      await emit(
        `codes_${scheme.scheme}`,
        csvOf(['code', 'messages', 'share'], scheme.counts.map((row) => [row.code, row.messages, row.share.toFixed(4)])),
        barChart(`Distribution of codes: ${scheme.scheme}`, scheme.counts, { field: 'code', title: 'Code' }, { field: 'messages', title: 'Messages' }, scheme.counts.some((row) => row.code.length > 8) || scheme.counts.length > 8 ? -40 : 0),
      );
    }
    if (summary.skipped) {
      await writeFileAtomic(join(folder, 'skipped_rows.json'), JSON.stringify(summary.skipped));
      logger.warn({ event: 'GeneratingAutomatedAnalysisFiles', skipped: summary.skipped }, 'rows left out of the graphs');
    }
    logger.info({ event: 'GeneratingAutomatedAnalysisFiles', periods: summary.perPeriod.length, schemes: summary.codes.length, folder }, 'analysis graphs written');
    return outputs;
  },
};

/**
 * coda-add: for each dataset of the coding plan, the Coda messages generate-outputs wrote
 * (`coda/<dataset name>`, a JSON array) go to Coda through CodaStore.addMessages: new ones get the next
 * sequence numbers, ones already there are left alone. Messages that cannot go (no text, not Coda's
 * layout, a label naming an unknown scheme or code) are written to `outputs/<run id>/coda-add/rejects.jsonl`
 * with the reason; `summary.json` beside it has each dataset's figures.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { forEachConcurrently } from '../deid/uuid-table';
import { BadInputError } from '../errors';
import { DATA_ROOT_LAYERS } from '../runs/data-root';
import type { StageImplementation } from '../runs/stage-runner';
import type { OutputRef, StageOutputs } from '../runs/types';
import { writeFileAtomic } from '../storage/atomic-write';
import { digestBuffer, digestFile } from '../storage/hashing';
import type { codaAddStage } from './coda-add.stage';
import { checkCodaMessage, schemeCodesOf } from './coda-message-check';
import type { AddResult, NewCodaMessage } from './coda-store';
import type { CodingPlan } from './coding-plan';
import { codingPlanOf, loadPlanCodeSchemes } from './plan-code-schemes';

/** The upstream stage and output key holding a dataset's messages to add. */
export const CODA_MESSAGES_STAGE = 'generate-outputs';
export const codaMessagesKey = (datasetName: string): string => `coda/${datasetName}`;
/** Datasets pushed at once: each is its own sequence of transactions, so two overlap their round trips. */
const DATASET_CONCURRENCY = 2;

export interface CodaAddDatasetSummary {
  codaDatasetId: string;
  /** Messages in the input file. */
  messages: number;
  added: number;
  alreadyPresent: number;
  /** Repeats of one MessageID in the input: identical texts are one message. */
  duplicates: number;
  rejected: number;
  segmentCount: number;
  metrics: AddResult['metrics'];
}

export interface CodaAddSummary {
  runId: string;
  store: string;
  datasets: Record<string, CodaAddDatasetSummary>;
}

function messagesFileOf(request: { upstream: Partial<Record<string, StageOutputs>> }, datasetName: string): string {
  const key = codaMessagesKey(datasetName);
  const ref = request.upstream[CODA_MESSAGES_STAGE]?.[key];
  const field = `${CODA_MESSAGES_STAGE} output "${key}"`;
  if (!ref) throw new BadInputError(`${field}: missing; coda-add needs ${CODA_MESSAGES_STAGE} before it in the run (or in the run it resumes)`);
  if (!ref.uri.startsWith('file:')) throw new BadInputError(`${field}: expected a file:// URL, got ${ref.uri}`);
  const path = fileURLToPath(ref.uri);
  if (!existsSync(path)) throw new BadInputError(`${field}: ${path} does not exist`);
  return path;
}

async function readMessagesFile(path: string, datasetName: string): Promise<unknown[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new BadInputError(`${CODA_MESSAGES_STAGE} output "${codaMessagesKey(datasetName)}": ${path} is not JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new BadInputError(`${CODA_MESSAGES_STAGE} output "${codaMessagesKey(datasetName)}": ${path} is not a JSON array of Coda messages`);
  return parsed;
}

async function fileRef(path: string, counts: Pick<OutputRef, 'records' | 'rejected'> = {}): Promise<OutputRef> {
  const { bytes, sha256 } = await digestFile(path);
  return { uri: pathToFileURL(path).href, bytes, sha256, ...counts };
}

export const codaAddImplementation: StageImplementation<typeof codaAddStage> = {
  version: 1,
  /** The messages files' and code schemes' contents, the store and the users: the same again adds nothing, so it is skipped. */
  async inputs(context) {
    const plan = codingPlanOf(context.request);
    const schemes = await loadPlanCodeSchemes(context.dataRoot, plan);
    const datasets = await Promise.all(
      plan.datasets.map(async (dataset, index) => ({
        name: dataset.name,
        codaDatasetId: dataset.codaDatasetId,
        messages: (await digestFile(messagesFileOf(context.request, dataset.name))).sha256,
        codeSchemes: schemes[index]!.digests,
      })),
    );
    return { store: plan.store, users: plan.users, datasets };
  },

  async run(context) {
    const { request, dataRoot, logger } = context;
    const plan: CodingPlan = codingPlanOf(request);
    const schemes = await loadPlanCodeSchemes(dataRoot, plan);
    const inputs = plan.datasets.map((dataset) => messagesFileOf(request, dataset.name));
    const folder = join(dataRoot, DATA_ROOT_LAYERS.outputs, request.runId, 'coda-add');
    const rejectsByDataset: string[][] = plan.datasets.map(() => []);
    const summary: CodaAddSummary = { runId: request.runId, store: '', datasets: {} };

    const opened = await context.openCodaStore(plan.store);
    try {
      summary.store = opened.store.description;
      const indices = plan.datasets.map((_, index) => index);
      await forEachConcurrently(indices, DATASET_CONCURRENCY, async (index) => {
        const dataset = plan.datasets[index]!;
        const { schemes: codeSchemes } = schemes[index]!;
        const codes = schemeCodesOf(codeSchemes);
        const raw = await readMessagesFile(inputs[index]!, dataset.name);
        const accepted: NewCodaMessage[] = [];
        let rejected = 0;
        raw.forEach((item, position) => {
          const check = checkCodaMessage(item, codes);
          if (check.ok) {
            const { MessageID, Text, CreationDateTimeUTC, Labels } = check.message;
            accepted.push({ MessageID, Text, CreationDateTimeUTC, Labels });
          } else {
            rejected += 1;
            rejectsByDataset[index]!.push(JSON.stringify({ dataset: dataset.name, index: position, reason: check.reason, message: item }));
          }
        });
        // What the dataset lacked when this run first looked, written down before its first message is added:
        // an attempt stopped after adding them (before its summary) is retried, and the retry, which finds
        // them all there, still reports what this run added, as an undisturbed run would.
        const missingPath = join(dataRoot, DATA_ROOT_LAYERS.manifests, 'coda-add', request.runId, `${encodeURIComponent(dataset.name)}.missing.json`);
        const missingEarlier = existsSync(missingPath) ? (JSON.parse(await readFile(missingPath, 'utf8')) as string[]) : undefined;
        const result = await opened.store.addMessages(
          { id: dataset.codaDatasetId, users: plan.users, codeSchemes },
          accepted,
          (progress) => {
            context.signal.throwIfAborted(); // between batches: every committed batch stays committed
            context.reportProgress({ dataset: dataset.name, added: progress.added, alreadyPresent: progress.alreadyPresent, remaining: progress.remaining });
          },
          async (missing) => {
            if (!missingEarlier) await writeFileAtomic(missingPath, JSON.stringify(missing));
          },
          missingEarlier && new Set(missingEarlier),
        );
        const inCoda = result.added + result.alreadyPresent;
        const added = missingEarlier ? Math.min(missingEarlier.length, inCoda) : result.added;
        summary.datasets[dataset.name] = {
          codaDatasetId: dataset.codaDatasetId,
          messages: raw.length,
          added,
          alreadyPresent: inCoda - added,
          duplicates: result.duplicates,
          rejected,
          segmentCount: result.segmentCount,
          metrics: result.metrics,
        };
        logger.info(
          { event: 'CodaAdd', dataset: dataset.name, added: result.added, alreadyPresent: result.alreadyPresent, duplicates: result.duplicates, rejected, segments: result.segmentCount, refreshes: result.refreshes },
          'messages added to Coda',
        );
      });
    } finally {
      await opened.close();
    }

    const rejects = rejectsByDataset.flat();
    const rejectsPath = join(folder, 'rejects.jsonl');
    await writeFileAtomic(rejectsPath, rejects.map((line) => `${line}\n`).join(''));
    const ordered: CodaAddSummary = { ...summary, datasets: Object.fromEntries(plan.datasets.map((dataset) => [dataset.name, summary.datasets[dataset.name]!])) };
    const summaryText = `${JSON.stringify(ordered, null, 2)}\n`;
    const summaryPath = join(folder, 'summary.json');
    await writeFileAtomic(summaryPath, summaryText);

    const summaryUri = pathToFileURL(summaryPath).href;
    const { bytes, sha256 } = digestBuffer(Buffer.from(summaryText));
    const figures = Object.values(ordered.datasets);
    const outputs: StageOutputs = {
      summary: { uri: summaryUri, bytes, sha256, records: figures.reduce((sum, figure) => sum + figure.added, 0), rejected: rejects.length },
      rejects: await fileRef(rejectsPath, { records: rejects.length }),
    };
    for (const [name, figure] of Object.entries(ordered.datasets)) outputs[`coda/${name}`] = { uri: summaryUri, bytes, sha256, records: figure.added, rejected: figure.rejected };
    return outputs;
  },
};

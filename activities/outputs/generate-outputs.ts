/**
 * The `generate-outputs` stage (seed 004's stage 3): from fetch-sources' remapped messages and the coded
 * data coda-get brought back, writes to `outputs/<run id>/`
 * - `messages.csv`: one row per message (a raw record's text in one dataset), with each code scheme's
 *   current reviewed code (its StringValue; `NR` until a coder checks a label);
 * - `individuals.csv`: one row per participant: survey answers, and per scheme one 0/1 column per code;
 * - `icr/<dataset>.csv`: per week, a reproducible sample of activation messages not coded as noise;
 * - `coda/<dataset>.json`: every message to upload (coda-add's input), with the auto-labels;
 * - `provenance.jsonl`: for every row of messages.csv and individuals.csv, the raw lines it came from;
 * - `rejects.jsonl` and `summary.json`.
 * Participants who withdrew consent (a checked STOP on any message) are left out of all of them, as the
 * AVF pipelines do. The raw file is streamed twice (the second pass only once consent is known, and the
 * first only when some coded message is STOP); per message only its line number is kept, besides one
 * copy of each distinct text for the Coda files.
 */
import { createReadStream, existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { type CodaMessage, pipelineOrigin } from '../coding/coda-message';
import type { CodingPlan } from '../coding/coding-plan';
import { BadInputError } from '../errors';
import { weekStart } from '../graphs/analysis';
import { DATA_ROOT_LAYERS } from '../runs/data-root';
import type { StageContext, StageImplementation } from '../runs/stage-runner';
import type { StageOutputs } from '../runs/types';
import { writeFileAtomic } from '../storage/atomic-write';
import { digestFile, sha256Hex } from '../storage/hashing';
import { autoLabeller, NOISE_CONTROL_CODES } from './auto-labels';
import { type CodedDataset, type CodedFile, loadCodedMessages, locateCodedFiles, type Reject } from './coded-messages';
import type { GenerateOutputsConfig, generateOutputsStage } from './generate-outputs.stage';
import { IcrSampler } from './icr-sample';
import { CsvOutput, TextOutput } from './output-files';
import { loadPlanSchemes, NOT_REVIEWED, type PlanDataset, TRUE_MISSING } from './plan-schemes';

type Context = StageContext<GenerateOutputsConfig>;

export const RAW_MESSAGES_KEY = 'remapped/messages.jsonl';
export const MESSAGES_COLUMNS = ['participant_uuid', 'dataset', 'received_at', 'message_id', 'text'] as const;
export const ICR_COLUMNS = ['week', 'message_id', 'received_at', 'text'] as const;
const PROGRESS_EVERY_LINES = 10_000;

export const MESSAGE_REJECT_REASONS = {
  notRecord: 'raw line is not a JSON record',
  noText: 'message without text',
  textNotString: 'message text is not a string',
  noParticipant: 'message without a participant uuid',
  noTime: 'message without a received time',
} as const;

interface RawMessages {
  path: string;
  uri: string;
  /** The fetch-sources run that wrote it (its folder's name). */
  runId: string;
  sha256: string | undefined;
}

function codingPlanOf(context: Context): CodingPlan {
  if (!context.request.coding) throw new BadInputError('coding: generate-outputs needs the run config\'s coding section (datasets, code schemes)');
  return context.request.coding;
}

function rawMessagesOf(context: Context): RawMessages {
  const ref = context.request.upstream['fetch-sources']?.[RAW_MESSAGES_KEY];
  if (!ref) throw new BadInputError(`upstream: generate-outputs reads fetch-sources' ${RAW_MESSAGES_KEY}; list fetch-sources before generate-outputs`);
  const path = fileURLToPath(ref.uri);
  if (!existsSync(path)) throw new BadInputError(`upstream: fetch-sources' ${RAW_MESSAGES_KEY} (${ref.uri}) does not exist`);
  return { path, uri: ref.uri, runId: basename(dirname(path)), sha256: ref.sha256 };
}

type RawRecord = Record<string, unknown>;

/** Every non-blank line of the raw file with its 1-based line number, streamed. */
async function* rawLines(path: string): AsyncGenerator<{ line: number; text: string }> {
  const reader = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  let line = 0;
  for await (const text of reader) {
    line += 1;
    if (text.trim()) yield { line, text };
  }
}

function parseRecord(text: string): RawRecord | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as RawRecord) : undefined;
  } catch {
    return undefined;
  }
}

function progress(context: Context, details: Record<string, unknown>): void {
  if (context.signal.aborted) throw context.signal.reason instanceof Error ? context.signal.reason : new Error('generate-outputs was cancelled');
  context.reportProgress(details);
}

interface ParticipantState {
  /** 0/1 per individuals.csv code column. */
  matrix: Uint8Array;
  /** Datasets the participant sent a message in. */
  seen: Uint8Array;
  /** Per survey dataset, the newest answer. */
  answers: Array<{ text: string; time: number } | undefined>;
  /** Raw lines of the participant's messages (provenance), ascending. */
  lines: number[];
}

/** Where each scheme's values sit among individuals.csv's code columns. */
function matrixLayout(datasets: readonly PlanDataset[]): { header: string[]; index: Array<Array<Map<string, number>>> } {
  const header: string[] = [];
  const index = datasets.map(({ schemes }) =>
    schemes.map((scheme) => {
      const positions = new Map<string, number>();
      for (const value of scheme.matrixValues) {
        positions.set(value, header.length);
        header.push(`${scheme.column}_${value}`);
      }
      return positions;
    }),
  );
  return { header, index };
}

export interface OutputsSummary {
  runId: string;
  raw: { uri: string; runId: string };
  records: number;
  messages: number;
  participants: number;
  testRunsDropped: number;
  /** Records holding no dataset's raw field: not messages of the coding plan. */
  recordsWithoutCodedField: number;
  consentWithdrawn: { participants: number; messages: number };
  rejected: number;
  rejectedByReason: Record<string, number>;
  datasets: Array<{
    name: string;
    kind: 'activation' | 'survey';
    messages: number;
    notReviewed: number;
    codaMessages: number;
    coded: { file: string; messages: number } | null;
    icr?: { candidates: number; sampled: number; weeks: number };
  }>;
}

async function generateOutputs(context: Context): Promise<StageOutputs> {
  const { request, dataRoot, logger } = context;
  const plan = codingPlanOf(context);
  const raw = rawMessagesOf(context);
  const datasets = await loadPlanSchemes(dataRoot, plan);
  const codedFiles = await locateCodedFiles(dataRoot, request.runId, request.upstream, datasets);
  const folder = join(dataRoot, DATA_ROOT_LAYERS.outputs, request.runId);
  await rm(folder, { recursive: true, force: true }); // what an interrupted attempt of this run left

  const rejectedByReason: Record<string, number> = {};
  const pendingRejects: Reject[] = [];
  const noteReject = (record: Reject): void => {
    rejectedByReason[record.reason] = (rejectedByReason[record.reason] ?? 0) + 1;
    pendingRejects.push(record);
  };

  const noiseControlCodes = new Set<string>([...NOISE_CONTROL_CODES, ...(plan.noise ? [plan.noise.controlCode] : [])]);
  const coded: CodedDataset[] = [];
  for (const [d, planDataset] of datasets.entries()) {
    const file = codedFiles[d];
    coded.push(file ? await loadCodedMessages(file, planDataset, noiseControlCodes, noteReject) : { messages: new Map(), stopTexts: new Set() });
  }

  // Pass 1: who withdrew consent (needed before any row is written). Skipped when no coded message is STOP.
  const withdrawn = new Set<string>();
  if (coded.some((dataset) => dataset.stopTexts.size > 0)) {
    for await (const { line, text } of rawLines(raw.path)) {
      if (line % PROGRESS_EVERY_LINES === 0) progress(context, { pass: 'consent', line });
      const record = parseRecord(text);
      if (!record || typeof record.participant_uuid !== 'string') continue;
      if (request.stage.dropTestRuns && record.test_run === true) continue;
      for (const [d, { dataset }] of datasets.entries()) {
        const value = record[dataset.rawField];
        if (typeof value === 'string' && coded[d]!.stopTexts.has(value)) withdrawn.add(record.participant_uuid);
      }
    }
  }

  // Pass 2: the rows.
  const schemeColumns = datasets.flatMap(({ schemes }) => schemes.map((scheme) => scheme.column));
  const schemeOffset = datasets.map((_, d) => MESSAGES_COLUMNS.length + datasets.slice(0, d).reduce((sum, { schemes }) => sum + schemes.length, 0));
  const surveyDatasets = datasets.filter(({ dataset }) => dataset.kind === 'survey');
  const surveySlot = datasets.map(({ dataset }) => surveyDatasets.findIndex((survey) => survey.dataset === dataset));
  const matrix = matrixLayout(datasets);
  const labelledAt = context.now().toISOString();
  const origin = pipelineOrigin(request.pipelineName, request.runId);
  const labellers = datasets.map((planDataset) => autoLabeller(planDataset, plan.noise, origin, labelledAt));
  const samplers = datasets.map(({ dataset }) => (dataset.kind === 'activation' ? new IcrSampler(plan.icr.seed, dataset.name, plan.icr.sampleSize) : undefined));
  // Per dataset, each distinct text and its earliest time (its MessageID is computed again when written).
  const codaTexts = datasets.map(() => new Map<string, number>());
  const participants = new Map<string, ParticipantState>();
  const perDataset = datasets.map(() => ({ messages: 0, notReviewed: 0 }));
  const counts = { records: 0, messages: 0, testRunsDropped: 0, recordsWithoutCodedField: 0, withdrawnMessages: 0 };

  const open: Array<CsvOutput | TextOutput> = [];
  const opened = <T extends CsvOutput | TextOutput>(output: T): T => {
    open.push(output);
    return output;
  };
  const rejects = opened(new TextOutput(join(folder, 'rejects.jsonl')));
  const messagesCsv = opened(new CsvOutput(join(folder, 'messages.csv'), [...MESSAGES_COLUMNS, ...schemeColumns]));
  const provenance = opened(new TextOutput(join(folder, 'provenance.jsonl')));
  const rawRef = { run_id: raw.runId, uri: raw.uri };
  const outputs: StageOutputs = {};
  try {
    const flushRejects = async (): Promise<void> => {
      for (const record of pendingRejects.splice(0)) await rejects.line(record);
    };
    await flushRejects();

    for await (const { line, text } of rawLines(raw.path)) {
      if (line % PROGRESS_EVERY_LINES === 0) progress(context, { pass: 'rows', line });
      counts.records += 1;
      const record = parseRecord(text);
      if (!record) {
        noteReject({ reason: MESSAGE_REJECT_REASONS.notRecord, line });
        await flushRejects();
        continue;
      }
      if (request.stage.dropTestRuns && record.test_run === true) {
        counts.testRunsDropped += 1;
        continue;
      }
      const source = typeof record.source === 'string' ? record.source : '';
      const recordId = typeof record.record_id === 'string' ? record.record_id : String(record.record_id ?? '');
      const uuid = typeof record.participant_uuid === 'string' && record.participant_uuid ? record.participant_uuid : undefined;
      const time = typeof record.received_at === 'string' ? Date.parse(record.received_at) : Number.NaN;
      let fields = 0;
      for (const [d, planDataset] of datasets.entries()) {
        const { dataset, schemes } = planDataset;
        const value = record[dataset.rawField];
        if (value === undefined || value === null) continue;
        fields += 1;
        const at = { dataset: dataset.name, source, record_id: recordId, line, ...(uuid ? { participant_uuid: uuid } : {}) };
        const problem =
          typeof value !== 'string' ? MESSAGE_REJECT_REASONS.textNotString
          : value.trim() === '' ? MESSAGE_REJECT_REASONS.noText
          : !uuid ? MESSAGE_REJECT_REASONS.noParticipant
          : Number.isNaN(time) ? MESSAGE_REJECT_REASONS.noTime
          : undefined;
        // (The last two tests only narrow the types: a problem is set whenever they hold.)
        if (problem !== undefined || typeof value !== 'string' || !uuid) {
          noteReject({ reason: problem ?? MESSAGE_REJECT_REASONS.noText, ...at });
          await flushRejects();
          continue;
        }
        if (withdrawn.has(uuid)) {
          counts.withdrawnMessages += 1;
          continue;
        }

        const messageId = sha256Hex(value);
        const receivedAt = new Date(time).toISOString();
        const codedMessage = coded[d]!.messages.get(messageId);
        let participant = participants.get(uuid);
        if (!participant) {
          participant = { matrix: new Uint8Array(matrix.header.length), seen: new Uint8Array(datasets.length), answers: surveyDatasets.map(() => undefined), lines: [] };
          participants.set(uuid, participant);
        }
        participant.seen[d] = 1;
        if (participant.lines[participant.lines.length - 1] !== line) participant.lines.push(line);

        const cells: string[] = new Array<string>(MESSAGES_COLUMNS.length + schemeColumns.length).fill('');
        cells[0] = uuid;
        cells[1] = dataset.name;
        cells[2] = receivedAt;
        cells[3] = messageId;
        cells[4] = value;
        let reviewed = true;
        schemes.forEach((scheme, s) => {
          const code = codedMessage?.reviewed[s];
          if (!code) reviewed = false;
          const shown = code ? code.StringValue : scheme.controlValue(NOT_REVIEWED);
          cells[schemeOffset[d]! + s] = shown;
          participant.matrix[matrix.index[d]![s]!.get(shown)!] = 1;
        });
        await messagesCsv.row(cells);
        await provenance.line({ output: 'messages.csv', row: counts.messages + 1, run_id: request.runId, source, record_id: recordId, raw: { ...rawRef, lines: [line] } });
        counts.messages += 1;
        perDataset[d]!.messages += 1;
        if (!reviewed) perDataset[d]!.notReviewed += 1;

        const slot = surveySlot[d]!;
        if (slot >= 0) {
          const answer = participant.answers[slot];
          if (!answer || time > answer.time) participant.answers[slot] = { text: value, time };
        }
        const earliest = codaTexts[d]!.get(value);
        if (earliest === undefined || time < earliest) codaTexts[d]!.set(value, time);

        const sampler = samplers[d];
        const noise = codedMessage?.labelled ? codedMessage.noise : labellers[d]!.isNoise(value);
        if (sampler && !noise) sampler.offer({ week: weekStart(time), messageId, receivedAt, text: value, line }, `${source}\u0000${recordId}`);
      }
      if (fields === 0) counts.recordsWithoutCodedField += 1;
    }
    outputs['messages.csv'] = await messagesCsv.finish();

    // individuals.csv, and its provenance after the messages'.
    const individuals = opened(new CsvOutput(join(folder, 'individuals.csv'), ['participant_uuid', ...surveyDatasets.map(({ dataset }) => dataset.rawField), ...matrix.header]));
    let row = 0;
    for (const [uuid, participant] of participants) {
      datasets.forEach((planDataset, d) => {
        if (participant.seen[d]) return;
        planDataset.schemes.forEach((scheme, s) => {
          participant.matrix[matrix.index[d]![s]!.get(scheme.controlValue(TRUE_MISSING))!] = 1;
        });
      });
      row += 1;
      if (row % PROGRESS_EVERY_LINES === 0) progress(context, { pass: 'individuals', row });
      await individuals.row([uuid, ...participant.answers.map((answer) => answer?.text ?? ''), ...Array.from(participant.matrix, String)]);
      await provenance.line({ output: 'individuals.csv', row, run_id: request.runId, participant_uuid: uuid, raw: { ...rawRef, lines: participant.lines } });
    }
    outputs['individuals.csv'] = await individuals.finish();
    outputs['provenance.jsonl'] = await provenance.finish();

    const icrWeeks = datasets.map(() => 0);
    for (const [d, { dataset }] of datasets.entries()) {
      const sampler = samplers[d];
      if (!sampler) continue;
      const icr = opened(new CsvOutput(join(folder, 'icr', `${dataset.name}.csv`), [...ICR_COLUMNS]));
      const sample = sampler.sample();
      for (const candidate of sample) await icr.row([candidate.week, candidate.messageId, candidate.receivedAt, candidate.text]);
      icrWeeks[d] = new Set(sample.map((candidate) => candidate.week)).size;
      outputs[`icr/${dataset.name}.csv`] = await icr.finish();
    }

    for (const [d, { dataset }] of datasets.entries()) {
      const coda = opened(new TextOutput(join(folder, 'coda', `${dataset.name}.json`)));
      // Oldest first, so coda-add numbers them in the order they arrived.
      const entries = [...codaTexts[d]!].sort(([textA, a], [textB, b]) => a - b || (textA < textB ? -1 : textA > textB ? 1 : 0));
      let separator = '[\n';
      let written = 0;
      for (const [text, time] of entries) {
        if (++written % PROGRESS_EVERY_LINES === 0) progress(context, { pass: 'coda', dataset: dataset.name, messages: written });
        const message: CodaMessage = { MessageID: sha256Hex(text), Text: text, CreationDateTimeUTC: new Date(time).toISOString(), Labels: labellers[d]!.labels(text) };
        await coda.text(`${separator}${JSON.stringify(message)}`, 1);
        separator = ',\n';
      }
      await coda.text(entries.length ? '\n]\n' : '[]\n');
      outputs[`coda/${dataset.name}`] = await coda.finish();
    }

    await flushRejects();
    const rejected = Object.values(rejectedByReason).reduce((sum, n) => sum + n, 0);
    outputs['rejects.jsonl'] = await rejects.finish({ rejected });

    const summary: OutputsSummary = {
      runId: request.runId,
      raw: { uri: raw.uri, runId: raw.runId },
      records: counts.records,
      messages: counts.messages,
      participants: participants.size,
      testRunsDropped: counts.testRunsDropped,
      recordsWithoutCodedField: counts.recordsWithoutCodedField,
      consentWithdrawn: { participants: withdrawn.size, messages: counts.withdrawnMessages },
      rejected,
      rejectedByReason,
      datasets: datasets.map(({ dataset }, d) => {
        const sampler = samplers[d];
        const icr = outputs[`icr/${dataset.name}.csv`];
        return {
          name: dataset.name,
          kind: dataset.kind,
          messages: perDataset[d]!.messages,
          notReviewed: perDataset[d]!.notReviewed,
          codaMessages: codaTexts[d]!.size,
          coded: codedFiles[d] ? { file: codedFiles[d].name, messages: coded[d]!.messages.size } : null,
          ...(sampler && icr ? { icr: { candidates: sampler.candidates, sampled: icr.records ?? 0, weeks: icrWeeks[d]! } } : {}),
        };
      }),
    };
    const summaryPath = join(folder, 'summary.json');
    await writeFileAtomic(summaryPath, `${JSON.stringify(summary, null, 2)}\n`);
    const summaryDigest = await digestFile(summaryPath);
    outputs['summary.json'] = { uri: pathToFileURL(summaryPath).href, bytes: summaryDigest.bytes, sha256: summaryDigest.sha256 };
    logger.info(
      {
        event: 'GeneratingOutputs',
        records: summary.records,
        messages: summary.messages,
        participants: summary.participants,
        consentWithdrawn: summary.consentWithdrawn,
        rejected,
        testRunsDropped: summary.testRunsDropped,
      },
      'outputs written',
    );
    return outputs;
  } catch (err) {
    await Promise.all(open.map((output) => output.abandon()));
    throw err;
  }
}

export const generateOutputsImplementation: StageImplementation<typeof generateOutputsStage> = {
  version: 1,
  /**
   * The raw messages' and coded files' contents, the code schemes', the plan's datasets, noise rule and
   * ICR settings, and the pipeline name (the auto-labels' Origin). Not the run id: a run with the same
   * inputs reuses the earlier outputs, whose labels name the run that made them.
   */
  async inputs(context): Promise<unknown> {
    const plan = codingPlanOf(context);
    const raw = rawMessagesOf(context);
    const datasets = await loadPlanSchemes(context.dataRoot, plan);
    const codedFiles: Array<CodedFile | undefined> = await locateCodedFiles(context.dataRoot, context.request.runId, context.request.upstream, datasets);
    return {
      dropTestRuns: context.request.stage.dropTestRuns,
      pipelineName: context.request.pipelineName,
      raw: raw.sha256 ?? (await digestFile(raw.path)).sha256,
      datasets: plan.datasets,
      schemes: datasets.map(({ schemes }) => schemes.map((scheme) => scheme.sha256)),
      noise: plan.noise ?? null,
      icr: plan.icr,
      coded: codedFiles.map((file) => file?.sha256 ?? null),
    };
  },
  run: generateOutputs,
};

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { parse } from 'csv-parse/sync';

import { type CodaMessage, pipelineOrigin } from '../activities/coding/coda-message';
import { type CodingPlan, codingPlanSchema } from '../activities/coding/coding-plan';
import { BadInputError } from '../activities/errors';
import { analysisGraphsImplementation } from '../activities/graphs/analysis-graphs';
import type { analysisGraphsStage } from '../activities/graphs/analysis-graphs.stage';
import { generateOutputsImplementation, RAW_MESSAGES_KEY } from '../activities/outputs/generate-outputs';
import type { GenerateOutputsConfig } from '../activities/outputs/generate-outputs.stage';
import type { StageConfigFor } from '../activities/runs/stage-definition';
import { runStage,type StageContext } from '../activities/runs/stage-runner';
import type { StageOutputs, StageResult } from '../activities/runs/types';
import { sha256Hex } from '../activities/storage/hashing';
import { LocalBlobStore } from '../activities/storage/local-blob-store';
import { temporaryFolder } from './helpers/environment';
import { testLogger } from './helpers/pipeline-worker';

const RAW_RUN = '20261015T000000.000Z-aaaaaaa';
const RUN = '20261020T000000.000Z-bbbbbbb';
const uuid = (n: number): string => `avf-phone-uuid-00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

type Json = Record<string, unknown>;

const control = (id: string, controlCode: string, numeric: number) => ({ CodeID: id, CodeType: 'Control', ControlCode: controlCode, DisplayText: controlCode, NumericValue: numeric, StringValue: controlCode, VisibleInCoda: true });
const normal = (id: string, value: string, numeric: number, matchValues?: string[]) => ({ CodeID: id, CodeType: 'Normal', DisplayText: value, NumericValue: numeric, StringValue: value, VisibleInCoda: true, ...(matchValues ? { MatchValues: matchValues } : {}) });

/** The show question's scheme: themes and the control codes, NR and NA among them. */
const RQA_SCHEME = {
  SchemeID: 'Scheme-rqa01',
  Name: 's01e01',
  Version: '0.0.1',
  Codes: [
    normal('code-water', 'water', 1),
    normal('code-health', 'health', 2),
    normal('code-education', 'education', 3),
    control('code-NC', 'NC', -10),
    control('code-NOC', 'NOC', -11),
    control('code-NR', 'NR', -20),
    control('code-STOP', 'STOP', -30),
    control('code-NA', 'NA', -40),
  ],
};
/** Gender: match values for auto-coding; no NR or NA code (the outputs fall back to the control code itself). */
const GENDER_SCHEME = {
  SchemeID: 'Scheme-gender',
  Name: 'gender',
  Version: '0.0.1',
  Codes: [normal('code-female', 'female', 1, ['female', 'f', 'woman']), normal('code-male', 'male', 2, ['male', 'm', 'man']), control('code-g-NC', 'NC', -10), control('code-g-STOP', 'STOP', -30)],
};

const PLAN = {
  store: { backend: 'local' },
  datasets: [
    { name: 'rqa_s01e01', rawField: 'rqa_s01e01_raw', codaDatasetId: 'TEST_s01e01', kind: 'activation', codeSchemes: [{ file: 'coding/rqa.json', column: 'rqa_s01e01' }] },
    { name: 'gender', rawField: 'gender_raw', codaDatasetId: 'TEST_gender', kind: 'survey', codeSchemes: [{ file: 'coding/gender.json', column: 'gender' }] },
  ],
  noise: { maxLength: 3, patterns: ['^test\\b'], controlCode: 'NC' },
  icr: { sampleSize: 200, seed: 1 },
};

const label = (codeId: string, checked: boolean, schemeId = 'Scheme-rqa01') => ({
  SchemeID: schemeId,
  CodeID: codeId,
  DateTimeUTC: '2026-10-12T10:00:00.000Z',
  Checked: checked,
  Origin: { OriginID: 'coder-1', Name: 'coder@example.org', OriginType: 'Manual' },
});
const codaMessage = (text: string, labels: unknown[], sequence: number) => ({ MessageID: sha256Hex(text), Text: text, CreationDateTimeUTC: '2026-10-05T08:00:00.000Z', Labels: labels, SequenceNumber: sequence, LastUpdated: '2026-10-12T10:00:00.000000Z' });

interface Fixture {
  root: string;
  rawPath: string;
  rawLines: string[];
  plan: CodingPlan;
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, JSON.stringify(value, null, 2));
}

async function fixture(label: string, lines: Array<Json | string>, options: { plan?: Json; coded?: Record<string, Record<string, unknown>> } = {}): Promise<Fixture> {
  const root = await temporaryFolder(label);
  await writeJson(join(root, 'coding', 'rqa.json'), RQA_SCHEME);
  await writeJson(join(root, 'coding', 'gender.json'), GENDER_SCHEME);
  const rawPath = join(root, 'raw', 'remapped', RAW_RUN, 'messages.jsonl');
  const rawLines = lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line)));
  await mkdir(join(rawPath, '..'), { recursive: true });
  await writeFile(rawPath, `${rawLines.join('\n')}\n`);
  // coded/<run id>/: complete exports have export-state.json.
  for (const [runId, files] of Object.entries(options.coded ?? {})) {
    for (const [name, documents] of Object.entries(files)) {
      if (name === 'export-state.json') await writeJson(join(root, 'coded', runId, name), documents);
      else await writeJson(join(root, 'coded', runId, `${name}.json`), documents);
    }
  }
  return { root, rawPath, rawLines, plan: codingPlanSchema.parse({ ...PLAN, ...options.plan }) };
}

function context(f: Fixture, options: { runId?: string; stage?: Partial<GenerateOutputsConfig>; upstream?: Record<string, StageOutputs>; overwrite?: boolean; plan?: CodingPlan } = {}): StageContext<GenerateOutputsConfig> {
  return {
    request: {
      runId: options.runId ?? RUN,
      pipelineName: 'outputs-test',
      dataRoot: f.root,
      stage: { stage: 'generate-outputs', dropTestRuns: true, ...options.stage },
      upstream: options.upstream ?? { 'fetch-sources': { [RAW_MESSAGES_KEY]: { uri: pathToFileURL(f.rawPath).href } } },
      overwrite: options.overwrite ?? false,
      coding: options.plan ?? f.plan,
    },
    dataRoot: f.root,
    blobStore: new LocalBlobStore(join(f.root, '.buckets')),
    logger: testLogger(),
    now: () => new Date('2026-10-20T12:00:00.000Z'),
    reportProgress: () => undefined,
    signal: new AbortController().signal,
    openUuidTable: () => Promise.reject(new Error('generate-outputs opens no UUID table')),
    openCodaStore: () => Promise.reject(new Error('generate-outputs opens no Coda store')),
  };
}

const read = (uri: string): Promise<string> => readFile(fileURLToPath(uri), 'utf8');
const csv = async (uri: string): Promise<Array<Record<string, string>>> => parse(await read(uri), { columns: true }) as Array<Record<string, string>>;
const jsonl = async (uri: string): Promise<Json[]> => (await read(uri)).split('\n').filter(Boolean).map((line) => JSON.parse(line) as Json);

const message = (n: number, participant: number | null, fields: Json, at: string, extra: Json = {}): Json => ({
  source: 'rapid-pro',
  source_kind: 'rapid-pro',
  flow_type: 'rqa_s01e01_raw' in fields ? 'activation' : 'survey',
  record_id: `run-${n}`,
  participant_uuid: participant === null ? null : uuid(participant),
  received_at: at,
  ...extra,
  ...fields,
});

/** Raw lines (1-based line = index + 1), each with what it exercises. */
const RAW: Array<Json | string> = [
  message(1, 1, { rqa_s01e01_raw: 'I want clean water' }, '2026-10-05T08:00:00.000Z'), // coded water (checked)
  message(2, 1, { gender_raw: ' Female ' }, '2026-10-05T08:05:00.000Z'), // auto-labelled female, not reviewed
  message(3, 2, { rqa_s01e01_raw: 'hi' }, '2026-10-06T09:00:00.000Z'), // in Coda without labels: the noise rule decides (noise)
  message(4, 2, { rqa_s01e01_raw: 'Health services are far' }, '2026-10-07T10:00:00.000Z'), // not in Coda
  message(5, 3, { rqa_s01e01_raw: 'stop' }, '2026-10-07T11:00:00.000Z'), // coded STOP: participant 3 withdrew
  message(6, 3, { gender_raw: 'M' }, '2026-10-07T11:05:00.000Z'), // participant 3's answer: removed with the rest
  message(7, 4, { rqa_s01e01_raw: '' }, '2026-10-08T12:00:00.000Z'), // no text: rejected
  message(8, 4, { rqa_s01e01_raw: 'test message' }, '2026-10-08T12:30:00.000Z', { test_run: true }), // a test run: dropped
  message(9, 5, { rqa_s01e01_raw: 'I want clean water' }, '2026-10-13T08:00:00.000Z'), // same text as line 1, a week later
  message(10, null, { rqa_s01e01_raw: 'call me on +254700000001' }, '2026-10-13T09:00:00.000Z'), // no participant: rejected
  message(11, 5, { age_raw: '30' }, '2026-10-13T09:30:00.000Z'), // no field of the coding plan
  '{not json',
  message(13, 6, { rqa_s01e01_raw: 'Education for girls' }, '2026-10-14T08:00:00.000Z'), // newest label names an unknown code
  message(14, 6, { rqa_s01e01_raw: 'schools please' }, '2026-10-14T08:30:00.000Z'), // label of an unknown scheme
  message(15, 2, { gender_raw: 'woman' }, '2026-10-07T10:05:00.000Z'), // auto-labelled female
  message(16, 7, { rqa_s01e01_raw: 'roads are bad' }, '2026-10-15T08:00:00.000Z'), // coded, unchecked: not reviewed
  message(17, 7, { rqa_s01e01_raw: 'more jobs' }, '2026-10-15T08:30:00.000Z'), // a coder cleared the code: not reviewed
  message(18, 8, { rqa_s01e01_raw: 'asdfgh' }, '2026-10-15T09:00:00.000Z'), // coded NC (checked): noise, not in ICR
  message(19, 8, { rqa_s01e01_raw: 'test one two' }, '2026-10-15T09:30:00.000Z'), // noise by pattern
  message(20, 9, { rqa_s01e01_raw: 'no time' }, 'soon'), // no received time: rejected
];

const CODED_MAIN = [
  codaMessage('I want clean water', [label('code-water', true)], 1),
  codaMessage('hi', [], 2),
  codaMessage('stop', [label('code-STOP', true)], 3),
  codaMessage('Education for girls', [label('code-gone', true), label('code-education', true)], 4),
  codaMessage('schools please', [label('code-education', true, 'Scheme-elsewhere')], 5),
  codaMessage('roads are bad', [label('code-health', false)], 6),
  codaMessage('more jobs', [label('SPECIAL-MANUALLY_UNCODED', true), label('code-health', true)], 7),
  codaMessage('asdfgh', [label('code-NC', true)], 8),
  { MessageID: 'not-a-hash', Text: 5, Labels: 'none' },
  { ...codaMessage('tampered', [], 9), Text: 'tampered later' },
];

const CODED = {
  // An older complete export, a newer incomplete one and one after this run: none of them is read.
  '20261001T000000.000Z-0000001': { rqa_s01e01: [codaMessage('I want clean water', [label('code-health', true)], 1)], 'export-state.json': {} },
  '20261010T000000.000Z-0000002': { rqa_s01e01: CODED_MAIN, 'export-state.json': {} },
  '20261012T000000.000Z-0000003': { rqa_s01e01: [codaMessage('I want clean water', [label('code-education', true)], 1)] },
  '20261230T000000.000Z-0000004': { rqa_s01e01: [codaMessage('I want clean water', [label('code-education', true)], 1)], 'export-state.json': {} },
};

async function runMain(): Promise<{ f: Fixture; result: StageResult }> {
  const f = await fixture('outputs', RAW, { coded: CODED });
  const result = await runStage(generateOutputsImplementation, context(f), 1);
  return { f, result };
}

describe('generate-outputs', () => {
  it('writes messages.csv: one row per message, the current reviewed code per scheme, NR until a coder checks one', async () => {
    const { result } = await runMain();
    assert.equal(result.status, 'succeeded');
    const outputs = result.outputs;
    assert.equal(fileURLToPath(outputs['messages.csv']!.uri).split('/').slice(-3).join('/'), `outputs/${RUN}/messages.csv`);
    const header = (await read(outputs['messages.csv']!.uri)).split('\n')[0];
    assert.equal(header, 'participant_uuid,dataset,received_at,message_id,text,rqa_s01e01,gender');
    const rows = await csv(outputs['messages.csv']!.uri);
    assert.equal(outputs['messages.csv']!.records, rows.length);
    const byText = new Map(rows.map((row) => [`${row.participant_uuid}|${row.text}`, row]));
    const row = (participant: number, text: string) => byText.get(`${uuid(participant)}|${text}`)!;

    assert.deepEqual(row(1, 'I want clean water'), {
      participant_uuid: uuid(1), dataset: 'rqa_s01e01', received_at: '2026-10-05T08:00:00.000Z', message_id: sha256Hex('I want clean water'), text: 'I want clean water', rqa_s01e01: 'water', gender: '',
    });
    assert.equal(row(5, 'I want clean water').rqa_s01e01, 'water', 'the newest complete export before this run is the one read');
    assert.deepEqual([row(1, ' Female ').dataset, row(1, ' Female ').rqa_s01e01, row(1, ' Female ').gender], ['gender', '', 'NR'], 'auto-labels are not reviewed');
    assert.equal(row(2, 'hi').rqa_s01e01, 'NR');
    assert.equal(row(2, 'Health services are far').rqa_s01e01, 'NR', 'not in Coda yet');
    assert.equal(row(7, 'roads are bad').rqa_s01e01, 'NR', 'unchecked label');
    assert.equal(row(7, 'more jobs').rqa_s01e01, 'NR', 'cleared by a coder');
    assert.equal(row(6, 'Education for girls').rqa_s01e01, 'NR', 'the newest label names an unknown code');
    assert.equal(row(6, 'schools please').rqa_s01e01, 'NR');
    assert.equal(row(8, 'asdfgh').rqa_s01e01, 'NC', 'a control code as the scheme\'s StringValue');
    assert.ok(!rows.some((r) => r.text === 'test message'), 'test runs are dropped');
    assert.equal(rows.length, 12);
  });

  it('writes individuals.csv: survey answers and one 0/1 column per code, NA where a participant sent nothing', async () => {
    const { result } = await runMain();
    const text = await read(result.outputs['individuals.csv']!.uri);
    const rqaColumns = ['water', 'health', 'education', 'NC', 'NOC', 'NR', 'STOP', 'NA'].map((v) => `rqa_s01e01_${v}`);
    const genderColumns = ['female', 'male', 'NC', 'STOP', 'NR', 'NA'].map((v) => `gender_${v}`);
    assert.equal(text.split('\n')[0], ['participant_uuid', 'gender_raw', ...rqaColumns, ...genderColumns].join(','));
    const rows = new Map((await csv(result.outputs['individuals.csv']!.uri)).map((row) => [row.participant_uuid!, row]));
    assert.equal(result.outputs['individuals.csv']!.records, rows.size);
    assert.deepEqual([...rows.keys()].sort(), [1, 2, 5, 6, 7, 8].map(uuid).sort());
    const ones = (participant: number) => Object.entries(rows.get(uuid(participant))!).filter(([, value]) => value === '1').map(([key]) => key);
    assert.equal(rows.get(uuid(1))!.gender_raw, ' Female ');
    assert.deepEqual(ones(1), ['rqa_s01e01_water', 'gender_NR']);
    assert.equal(rows.get(uuid(2))!.gender_raw, 'woman');
    assert.deepEqual(ones(2), ['rqa_s01e01_NR', 'gender_NR']);
    assert.deepEqual(ones(5), ['rqa_s01e01_water', 'gender_NA']);
    assert.deepEqual(ones(8), ['rqa_s01e01_NC', 'rqa_s01e01_NR', 'gender_NA']);
    assert.equal(rows.get(uuid(8))!.gender_raw, '');
  });

  it('writes the Coda files: every message once, oldest first, with auto-labels (match values, the noise rule) from this pipeline, unchecked', async () => {
    const { result } = await runMain();
    const origin = pipelineOrigin('outputs-test', RUN);
    const rqa = JSON.parse(await read(result.outputs['coda/rqa_s01e01']!.uri)) as CodaMessage[];
    const gender = JSON.parse(await read(result.outputs['coda/gender']!.uri)) as CodaMessage[];
    assert.ok(result.outputs['coda/rqa_s01e01']!.uri.endsWith(`/outputs/${RUN}/coda/rqa_s01e01.json`));
    assert.equal(result.outputs['coda/rqa_s01e01']!.records, rqa.length);
    for (const m of [...rqa, ...gender]) {
      assert.deepEqual(Object.keys(m).sort(), ['CreationDateTimeUTC', 'Labels', 'MessageID', 'Text']);
      assert.equal(m.MessageID, sha256Hex(m.Text));
    }
    assert.deepEqual(rqa.map((m) => m.Text), ['I want clean water', 'hi', 'Health services are far', 'Education for girls', 'schools please', 'roads are bad', 'more jobs', 'asdfgh', 'test one two']);
    assert.equal(rqa[0]!.CreationDateTimeUTC, '2026-10-05T08:00:00.000Z', 'the earliest of the two messages with this text');
    const labelsOf = (messages: CodaMessage[], text: string) => messages.find((m) => m.Text === text)!.Labels;
    const auto = (codeId: string, schemeId: string) => ({ SchemeID: schemeId, CodeID: codeId, DateTimeUTC: '2026-10-20T12:00:00.000Z', Checked: false, Origin: origin });
    assert.deepEqual(labelsOf(rqa, 'hi'), [auto('code-NC', 'Scheme-rqa01')], 'at most maxLength characters');
    assert.deepEqual(labelsOf(rqa, 'test one two'), [auto('code-NC', 'Scheme-rqa01')], 'matches a noise pattern');
    assert.deepEqual(labelsOf(rqa, 'Health services are far'), []);
    assert.deepEqual(gender.map((m) => [m.Text, m.Labels]), [
      [' Female ', [auto('code-female', 'Scheme-gender')]],
      ['woman', [auto('code-female', 'Scheme-gender')]],
    ]);
  });

  it('removes a participant who withdrew consent (STOP) from every output, and counts them', async () => {
    const { f, result } = await runMain();
    const withdrawn = uuid(3);
    for (const [key, ref] of Object.entries(result.outputs)) {
      if (key === 'summary.json' || key === 'rejects.jsonl') continue;
      const text = await read(ref.uri);
      assert.ok(!text.includes(withdrawn), `${key} names the withdrawn participant`);
      assert.ok(!/"stop"|,stop,|"M"|,M,/.test(text), `${key} holds the withdrawn participant's texts`);
    }
    const provenance = await jsonl(result.outputs['provenance.jsonl']!.uri);
    const lines = provenance.flatMap((entry) => (entry.raw as { lines: number[] }).lines);
    assert.ok(!lines.includes(5) && !lines.includes(6), 'no provenance points at their raw lines');
    const summary = JSON.parse(await read(result.outputs['summary.json']!.uri)) as { consentWithdrawn: unknown; messages: number; testRunsDropped: number; recordsWithoutCodedField: number };
    assert.deepEqual(summary.consentWithdrawn, { participants: 1, messages: 2 });
    assert.equal(summary.testRunsDropped, 1);
    assert.equal(summary.recordsWithoutCodedField, 1);
    assert.equal(f.rawLines.length, 20);
  });

  it('rejects messages without text, participant or time, unparseable lines, and coded documents or labels that do not fit, with reasons and no phone numbers', async () => {
    const { result } = await runMain();
    const rejects = await jsonl(result.outputs['rejects.jsonl']!.uri);
    assert.equal(result.outputs['rejects.jsonl']!.rejected, rejects.length);
    assert.equal(result.outputs['rejects.jsonl']!.records, rejects.length);
    const reasons = rejects.map((r) => r.reason as string).sort();
    assert.deepEqual(reasons, [
      'coded message does not match the Coda layout',
      'coded message\'s MessageID is not the SHA-256 of its text',
      'label names a code that is not in its scheme',
      'label names a scheme that is not one of the dataset\'s code schemes',
      'message without a participant uuid',
      'message without a received time',
      'message without text',
      'raw line is not a JSON record',
    ]);
    const byReason = (reason: string) => rejects.find((r) => r.reason === reason)!;
    assert.deepEqual(byReason('message without text'), { reason: 'message without text', dataset: 'rqa_s01e01', source: 'rapid-pro', record_id: 'run-7', line: 7, participant_uuid: uuid(4) });
    assert.equal(byReason('raw line is not a JSON record').line, 12);
    assert.deepEqual(byReason('label names a code that is not in its scheme'), {
      reason: 'label names a code that is not in its scheme', dataset: 'rqa_s01e01', file: 'coded/20261010T000000.000Z-0000002/rqa_s01e01.json', index: 3,
      message_id: sha256Hex('Education for girls'), label_index: 0, scheme_id: 'Scheme-rqa01', code_id: 'code-gone', scheme_file: 'coding/rqa.json',
    });
    assert.match(byReason('coded message does not match the Coda layout').detail as string, /MessageID/);
    const text = await read(result.outputs['rejects.jsonl']!.uri);
    assert.ok(!text.includes('254700000001') && !text.includes('call me'), 'rejects carry no message text');
    const summary = JSON.parse(await read(result.outputs['summary.json']!.uri)) as { rejected: number; rejectedByReason: Record<string, number> };
    assert.equal(summary.rejected, rejects.length);
    assert.equal(Object.values(summary.rejectedByReason).reduce((a, b) => a + b, 0), rejects.length);
  });

  it('writes provenance: every row of messages.csv and individuals.csv points at its raw lines and runs', async () => {
    const { f, result } = await runMain();
    const provenance = await jsonl(result.outputs['provenance.jsonl']!.uri);
    const messages = await csv(result.outputs['messages.csv']!.uri);
    const individuals = await csv(result.outputs['individuals.csv']!.uri);
    assert.equal(provenance.length, messages.length + individuals.length);
    assert.equal(result.outputs['provenance.jsonl']!.records, provenance.length);
    const rawRecord = (line: number) => JSON.parse(f.rawLines[line - 1]!) as Json;
    const rawUri = pathToFileURL(f.rawPath).href;
    messages.forEach((row, index) => {
      const entry = provenance.find((p) => p.output === 'messages.csv' && p.row === index + 1)!;
      assert.equal(entry.run_id, RUN);
      const raw = entry.raw as { run_id: string; uri: string; lines: number[] };
      assert.deepEqual([raw.run_id, raw.uri, raw.lines.length], [RAW_RUN, rawUri, 1]);
      const record = rawRecord(raw.lines[0]!);
      assert.equal(record.participant_uuid, row.participant_uuid);
      assert.equal(record[row.dataset === 'gender' ? 'gender_raw' : 'rqa_s01e01_raw'], row.text);
      assert.deepEqual([entry.source, entry.record_id], [record.source, record.record_id]);
    });
    individuals.forEach((row, index) => {
      const entry = provenance.find((p) => p.output === 'individuals.csv' && p.row === index + 1)!;
      assert.equal(entry.participant_uuid, row.participant_uuid);
      const lines = (entry.raw as { lines: number[] }).lines;
      const expected = messages.filter((m) => m.participant_uuid === row.participant_uuid).length;
      assert.equal(lines.length, expected);
      for (const line of lines) assert.equal(rawRecord(line).participant_uuid, row.participant_uuid);
    });
  });

  it('reads coda-get\'s output of this run before any export in the data root', async () => {
    const f = await fixture('outputs-upstream', RAW.slice(0, 2), { coded: CODED });
    const fromStage = join(f.root, 'coded', RUN, 'rqa_s01e01.json');
    await writeJson(fromStage, [codaMessage('I want clean water', [label('code-health', true)], 1)]);
    const upstream = {
      'fetch-sources': { [RAW_MESSAGES_KEY]: { uri: pathToFileURL(f.rawPath).href } },
      'coda-get': { 'coded/rqa_s01e01': { uri: pathToFileURL(fromStage).href } },
    };
    const result = await runStage(generateOutputsImplementation, context(f, { upstream }), 1);
    const rows = await csv(result.outputs['messages.csv']!.uri);
    assert.equal(rows.find((row) => row.dataset === 'rqa_s01e01')!.rqa_s01e01, 'health');
  });

  it('with no coded data at all, every message is not reviewed', async () => {
    const f = await fixture('outputs-uncoded', RAW);
    const result = await runStage(generateOutputsImplementation, context(f), 1);
    const rows = await csv(result.outputs['messages.csv']!.uri);
    assert.ok(rows.every((row) => (row.dataset === 'gender' ? row.gender : row.rqa_s01e01) === 'NR'));
    assert.ok(rows.some((row) => row.participant_uuid === uuid(3)), 'nobody withdrew: no STOP was coded');
  });

  it('names the bad code scheme file, a missing upstream and a missing coding section as bad input', async () => {
    const f = await fixture('outputs-bad', RAW.slice(0, 2));
    await writeJson(join(f.root, 'coding', 'gender.json'), { ...GENDER_SCHEME, Codes: [...GENDER_SCHEME.Codes, normal('code-female', 'other', 9)] });
    await assert.rejects(runStage(generateOutputsImplementation, context(f), 1), (err: unknown) => err instanceof BadInputError && /^coding\.datasets\[1\]\.codeSchemes\[0\]\.file: coding\/gender\.json is not a CodaV2 code scheme: .*CodeID "code-female" repeats/.test(err.message));
    await writeFile(join(f.root, 'coding', 'gender.json'), '{ not json');
    await assert.rejects(runStage(generateOutputsImplementation, context(f), 1), /^BadInputError: coding\.datasets\[1\]\.codeSchemes\[0\]\.file: coding\/gender\.json is not JSON/);
    const missing = codingPlanSchema.parse({ ...PLAN, datasets: [{ ...PLAN.datasets[0], codeSchemes: [{ file: 'coding/nope.json', column: 'rqa_s01e01' }] }] });
    await assert.rejects(runStage(generateOutputsImplementation, context(f, { plan: missing }), 1), /coding\.datasets\[0\]\.codeSchemes\[0\]\.file: coding\/nope\.json does not exist/);
    const noNoiseCode = { ...RQA_SCHEME, Codes: RQA_SCHEME.Codes.filter((code) => code.StringValue !== 'NC') };
    await writeJson(join(f.root, 'coding', 'rqa.json'), noNoiseCode);
    await writeJson(join(f.root, 'coding', 'gender.json'), GENDER_SCHEME);
    await assert.rejects(runStage(generateOutputsImplementation, context(f), 1), /coding\.datasets\[0\]\.codeSchemes\[0\]\.file: coding\/rqa\.json has no Control code NC/);
    await writeJson(join(f.root, 'coding', 'rqa.json'), RQA_SCHEME);
    await assert.rejects(runStage(generateOutputsImplementation, context(f, { upstream: {} }), 1), (err: unknown) => err instanceof BadInputError && /^upstream: .*fetch-sources/.test(err.message));
    const withoutPlan = context(f);
    delete withoutPlan.request.coding;
    await assert.rejects(runStage(generateOutputsImplementation, withoutPlan, 1), /^BadInputError: coding: /);
    // A coded file that is not an array of messages cannot be read at all.
    await writeJson(join(f.root, 'coded', '20261010T000000.000Z-0000002', 'rqa_s01e01.json'), { messages: [] });
    await writeJson(join(f.root, 'coded', '20261010T000000.000Z-0000002', 'export-state.json'), {});
    await assert.rejects(runStage(generateOutputsImplementation, context(f), 1), /^BadInputError: coded\/20261010T000000\.000Z-0000002\/rqa_s01e01\.json: expected a JSON array/);
  });

  it('skips a second run with the same inputs, and redoes it when the coded data changed', async () => {
    const f = await fixture('outputs-skip', RAW, { coded: CODED });
    const first = await runStage(generateOutputsImplementation, context(f), 1);
    const second = await runStage(generateOutputsImplementation, context(f, { runId: '20261021T000000.000Z-ccccccc' }), 1);
    assert.equal(second.status, 'skipped');
    assert.deepEqual(second.outputs, first.outputs);
    await writeJson(join(f.root, 'coded', '20261020T120000.000Z-0000005', 'rqa_s01e01.json'), [codaMessage('hi', [label('code-NC', true)], 1)]);
    await writeJson(join(f.root, 'coded', '20261020T120000.000Z-0000005', 'export-state.json'), {});
    const third = await runStage(generateOutputsImplementation, context(f, { runId: '20261022T000000.000Z-ddddddd' }), 1);
    assert.equal(third.status, 'succeeded');
  });
});

describe('ICR samples', () => {
  // Three weeks of 60 messages each, 12 of them noise; participants 100.. so every message has its own.
  const weeks = ['2026-10-05', '2026-10-12', '2026-10-19'];
  const lines: Json[] = [];
  weeks.forEach((week, w) => {
    for (let i = 0; i < 60; i += 1) {
      const n = w * 100 + i;
      const day = new Date(Date.parse(`${week}T00:00:00Z`) + (i % 7) * 86_400_000 + i * 60_000).toISOString();
      const text = i % 5 === 0 ? 'ok' : `message ${n} about the show`;
      lines.push(message(n, 100 + n, { rqa_s01e01_raw: text }, day));
    }
  });
  const icrPlan = (seed: number) => codingPlanSchema.parse({ ...PLAN, datasets: [PLAN.datasets[0]], icr: { sampleSize: 20, seed } });

  it('samples at most sampleSize messages per ISO week, none of them noise, byte-identical for the same seed and different for another', async () => {
    const f = await fixture('icr', lines);
    const icrOf = async (seed: number, runId: string) => {
      const result = await runStage(generateOutputsImplementation, context(f, { plan: icrPlan(seed), runId, overwrite: true }), 1);
      return { result, text: await read(result.outputs['icr/rqa_s01e01.csv']!.uri) };
    };
    const first = await icrOf(7, '20261101T000000.000Z-0000001');
    const again = await icrOf(7, '20261102T000000.000Z-0000002');
    const other = await icrOf(8, '20261103T000000.000Z-0000003');
    assert.notEqual(first.result.outputs['icr/rqa_s01e01.csv']!.uri, again.result.outputs['icr/rqa_s01e01.csv']!.uri);
    assert.equal(again.text, first.text, 'same seed: byte-identical');
    assert.notEqual(other.text, first.text, 'another seed: another sample');

    const rows = parse(first.text, { columns: true }) as Array<Record<string, string>>;
    assert.equal(first.text.split('\n')[0], 'week,message_id,received_at,text');
    assert.equal(first.result.outputs['icr/rqa_s01e01.csv']!.records, rows.length);
    assert.deepEqual([...new Set(rows.map((row) => row.week))], weeks);
    for (const week of weeks) assert.equal(rows.filter((row) => row.week === week).length, 20);
    assert.ok(rows.every((row) => row.text !== 'ok'), 'noise is never sampled');
    assert.ok(rows.every((row) => row.message_id === sha256Hex(row.text!)));
    assert.ok(rows.every((row) => row.received_at!.slice(0, 10) >= row.week! && Date.parse(row.received_at!) < Date.parse(`${row.week}T00:00:00Z`) + 7 * 86_400_000));
    const summary = JSON.parse(await read(first.result.outputs['summary.json']!.uri)) as { datasets: Array<{ icr?: unknown }> };
    assert.deepEqual(summary.datasets[0]!.icr, { candidates: 144, sampled: 60, weeks: 3 });
  });

  it('keeps every message of a week with fewer than sampleSize, and leaves out messages coded as noise in Coda', async () => {
    const few = lines.slice(0, 10);
    const f = await fixture('icr-few', few, { coded: { '20261010T000000.000Z-0000002': { rqa_s01e01: [codaMessage('message 1 about the show', [label('code-NOC', false)], 1)], 'export-state.json': {} } } });
    const result = await runStage(generateOutputsImplementation, context(f, { plan: icrPlan(7) }), 1);
    const rows = await csv(result.outputs['icr/rqa_s01e01.csv']!.uri);
    const expected = few.map((line) => line.rqa_s01e01_raw as string).filter((text) => text !== 'ok' && text !== 'message 1 about the show');
    assert.deepEqual(rows.map((row) => row.text).sort(), expected.sort());
  });
});

describe('analysis-graphs on generate-outputs\' messages', () => {
  it('graphs messages and participants per week and each scheme\'s codes, counting only its own dataset\'s messages, control codes last', async () => {
    const { f, result } = await runMain();
    const stage: StageConfigFor<typeof analysisGraphsStage> = {
      stage: 'analysis-graphs',
      input: { stage: 'generate-outputs', table: 'messages' },
      timestampColumn: 'received_at',
      participantColumn: 'participant_uuid',
      period: 'week',
      codeSchemes: ['rqa_s01e01', 'gender'],
      formats: ['svg'],
    };
    const graphsContext = { ...context(f), request: { ...context(f).request, stage, upstream: { 'generate-outputs': result.outputs } } } as unknown as StageContext<StageConfigFor<typeof analysisGraphsStage>>;
    const graphs = await runStage(analysisGraphsImplementation, graphsContext, 1);
    const table = async (name: string) => parse(await read(graphs.outputs[name]!.uri), { columns: true }) as Array<Record<string, string>>;
    const messages = await csv(result.outputs['messages.csv']!.uri);

    const perWeek = await table('messages_per_week.csv');
    assert.deepEqual(perWeek.map((row) => row.week), ['2026-10-05', '2026-10-12']);
    assert.equal(perWeek.reduce((sum, row) => sum + Number(row.messages), 0), messages.length);
    const rqa = await table('codes_rqa_s01e01.csv');
    assert.deepEqual(rqa.map((row) => [row.code, row.messages]), [['water', '2'], ['NR', '7'], ['NC', '1']]); // control codes in CONTROL_CODES order
    assert.equal(rqa.reduce((sum, row) => sum + Number(row.share), 0).toFixed(2), '1.00');
    const gender = await table('codes_gender.csv');
    assert.deepEqual(gender.map((row) => [row.code, row.messages, row.share]), [['NR', '2', '1.0000']], 'rqa messages are not counted as not coded gender');
    assert.ok(existsSync(fileURLToPath(graphs.outputs['codes_gender.svg']!.uri)));

    const withoutUpstream = { ...graphsContext, request: { ...graphsContext.request, upstream: {} } };
    await assert.rejects(runStage(analysisGraphsImplementation, withoutUpstream, 1), /^BadInputError: input: no generate-outputs stage/);
  });
});

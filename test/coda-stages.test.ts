/**
 * The coda-add and coda-get stages through runStage (skip-if-done included), on both backends: the
 * messages generate-outputs wrote go to Coda with their rejects counted and written down; coded messages
 * come back, then only those changed since the previous export, merged into a new version while the
 * earlier version stays as it was.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { codaAddImplementation, type CodaAddSummary } from '../activities/coding/coda-add';
import { codaGetImplementation, type ExportState } from '../activities/coding/coda-get';
import type { CodaMessage } from '../activities/coding/coda-message';
import { messagesCollection } from '../activities/coding/coda-store';
import type { CodingPlan } from '../activities/coding/coding-plan';
import { SERVER_TIMESTAMP } from '../activities/coding/document-store';
import { openCodaStore } from '../activities/coding/open-coda-store';
import { BadInputError } from '../activities/errors';
import { runStage } from '../activities/runs/stage-runner';
import type { StageOutputs } from '../activities/runs/types';
import { AGE_SCHEME, type BackendName, BACKENDS, codaMessage, coderLabel, codingDataRoot, codingStageContext, listenerText, pipelineLabel, REASONS_SCHEME } from './helpers/coda';

const RUNS = ['20261101T080000.000Z-aaaaaaa', '20261108T080000.000Z-bbbbbbb', '20261115T080000.000Z-ccccccc', '20261122T080000.000Z-ddddddd'] as const;

/** What generate-outputs would have written for the run before: `outputs/<run>/coda/<dataset>.json`. */
async function writeUpstream(dataRoot: string, files: Record<string, unknown[]>): Promise<Partial<Record<string, StageOutputs>>> {
  const folder = join(dataRoot, 'outputs', '20261101T070000.000Z-0000000', 'coda');
  await mkdir(folder, { recursive: true });
  const outputs: StageOutputs = {};
  for (const [name, messages] of Object.entries(files)) {
    await writeFile(join(folder, `${name}.json`), JSON.stringify(messages));
    outputs[`coda/${name}`] = { uri: pathToFileURL(join(folder, `${name}.json`)).href, records: messages.length };
  }
  return { 'generate-outputs': outputs };
}

const readJson = async <T>(uri: string): Promise<T> => JSON.parse(await readFile(uri.startsWith('file:') ? fileURLToPath(uri) : uri, 'utf8')) as T;
const readLines = async (uri: string): Promise<Array<Record<string, unknown>>> =>
  (await readFile(fileURLToPath(uri), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);

async function setUp(backend: BackendName) {
  const root = await codingDataRoot(backend, [
    { name: 's01e01', codaDatasetId: 'stage_test_s01e01', schemes: [REASONS_SCHEME] },
    { name: 'age', codaDatasetId: 'stage_test_age', schemes: [AGE_SCHEME] },
  ]);
  const activation = Array.from({ length: 30 }, (_, i) => codaMessage(listenerText(i), i < 4 ? [pipelineLabel(REASONS_SCHEME.SchemeID, 'code-NC')] : []));
  const bad = [
    { ...codaMessage('placeholder'), Text: '   ' },
    codaMessage('a label of a scheme this dataset lacks', [pipelineLabel(AGE_SCHEME.SchemeID, 'code-young')]),
    codaMessage('a label of a code the scheme lacks', [pipelineLabel(REASONS_SCHEME.SchemeID, 'code-fishing')]),
    { ...codaMessage('no creation time'), CreationDateTimeUTC: undefined },
    { ...codaMessage('an id that is not the hash of the text'), MessageID: 'f'.repeat(64) },
  ];
  const age = ['young', 'old', 'young again', '22', 'thirty'].map((text) => codaMessage(text, text === 'young' ? [pipelineLabel(AGE_SCHEME.SchemeID, 'code-young')] : []));
  const upstream = await writeUpstream(root.dataRoot, { s01e01: [...activation.slice(0, 10), ...bad, ...activation.slice(10)], age });
  return { ...root, activation, age, upstream };
}

for (const backend of BACKENDS) {
  describe(`coda-add and coda-get stages (${backend})`, () => {
    it('coda-add pushes the new messages, counts and writes down the rejects, is skipped with the same inputs and adds nothing when redone', async () => {
      const setup = await setUp(backend);
      const { dataHome, dataRoot, plan, env, upstream } = setup;
      const harness = codingStageContext({ stage: 'coda-add', runId: RUNS[0], dataHome, dataRoot, plan, env, upstream, storeOptions: { batchSize: 8 } });
      const result = await runStage(codaAddImplementation, harness.context, 1);
      assert.equal(result.status, 'succeeded');
      const { outputs } = result;
      assert.deepEqual(
        { s01e01: [outputs['coda/s01e01']!.records, outputs['coda/s01e01']!.rejected], age: [outputs['coda/age']!.records, outputs['coda/age']!.rejected] },
        { s01e01: [30, 5], age: [5, 0] },
      );
      assert.equal(outputs.summary!.uri, pathToFileURL(join(dataRoot, 'outputs', RUNS[0], 'coda-add', 'summary.json')).href);
      const summary = await readJson<CodaAddSummary>(outputs.summary!.uri);
      assert.deepEqual(
        { ...summary.datasets.s01e01, metrics: undefined },
        { codaDatasetId: 'stage_test_s01e01', messages: 35, added: 30, alreadyPresent: 0, duplicates: 0, rejected: 5, segmentCount: 1, metrics: undefined },
      );
      assert.deepEqual(summary.datasets.s01e01!.metrics, { stage_test_s01e01: { messages_count: 30, messages_with_label: 0, wrong_scheme_messages: 0, not_coded_messages: 0 } });

      const rejects = await readLines(outputs.rejects!.uri);
      assert.equal(outputs.rejects!.records, 5);
      assert.deepEqual(
        rejects.map((reject) => [reject.dataset, reject.index, reject.reason]),
        [
          ['s01e01', 10, 'message without text'],
          ['s01e01', 11, `Labels[0] names unknown code scheme "${AGE_SCHEME.SchemeID}"`],
          ['s01e01', 12, `Labels[0] names unknown code "code-fishing" of scheme "${REASONS_SCHEME.SchemeID}"`],
          ['s01e01', 13, 'does not match the Coda message layout: CreationDateTimeUTC: Invalid input: expected string, received undefined'],
          ['s01e01', 14, 'MessageID is not the SHA-256 of Text'],
        ],
      );
      assert.ok(harness.heartbeats.length >= 4, 'a heartbeat per batch');
      assert.ok(harness.heartbeats.every((beat) => typeof beat.added === 'number' && typeof beat.dataset === 'string'));

      const opened = await openCodaStore(plan.store, { dataHome, env });
      try {
        const stored = await opened.store.documents.query(messagesCollection('stage_test_s01e01'));
        assert.equal(stored.length, 30);
        const autoLabelled = stored.find((document) => document.id === setup.activation[0]!.MessageID)!;
        assert.deepEqual(autoLabelled.data.Labels, [pipelineLabel(REASONS_SCHEME.SchemeID, 'code-NC')], 'automatic labels travel as they are, unchecked');
        assert.deepEqual((await opened.store.documents.getAll(['datasets/stage_test_age']))[0], { users: plan.users });
      } finally {
        await opened.close();
      }

      const again = await runStage(codaAddImplementation, codingStageContext({ stage: 'coda-add', runId: RUNS[1], dataHome, dataRoot, plan, env, upstream }).context, 1);
      assert.equal(again.status, 'skipped');
      const redone = await runStage(codaAddImplementation, codingStageContext({ stage: 'coda-add', runId: RUNS[2], dataHome, dataRoot, plan, env, upstream, overwrite: true }).context, 1);
      assert.equal(redone.status, 'succeeded');
      assert.equal(redone.outputs['coda/s01e01']!.records, 0, 'a second identical upload adds nothing');
      assert.equal((await readJson<CodaAddSummary>(redone.outputs.summary!.uri)).datasets.s01e01!.alreadyPresent, 30);
    });

    it('coda-add retried after an attempt added every message but was stopped before its summary reports the same figures', async () => {
      const { dataHome, dataRoot, plan, env, upstream } = await setUp(backend);
      const attempt = () => codingStageContext({ stage: 'coda-add', runId: RUNS[0], dataHome, dataRoot, plan, env, upstream, storeOptions: { batchSize: 8 } }).context;
      // The implementation itself, twice in one run: the stage runner would reuse a recorded completion, and
      // here the first attempt's completion was never recorded (a worker killed after its last batch).
      await codaAddImplementation.run(attempt());
      const first = await readFile(join(dataRoot, 'outputs', RUNS[0], 'coda-add', 'summary.json'), 'utf8');
      const outputs = await codaAddImplementation.run(attempt());
      const second = await readFile(join(dataRoot, 'outputs', RUNS[0], 'coda-add', 'summary.json'), 'utf8');
      assert.equal(second, first);
      assert.equal((JSON.parse(second) as CodaAddSummary).datasets.s01e01!.added, 30);
      assert.equal(outputs['coda/s01e01']!.records, 30);
    });

    it('coda-get exports everything, then only what coders changed, merged into a new version; the earlier version stays', async () => {
      const setup = await setUp(backend);
      const { dataHome, dataRoot, env, upstream } = setup;
      await runStage(codaAddImplementation, codingStageContext({ stage: 'coda-add', runId: RUNS[0], dataHome, dataRoot, plan: setup.plan, env, upstream }).context, 1);
      // coda-get also covers a dataset nobody has started coding: it is not in Coda at all.
      const plan: CodingPlan = { ...setup.plan, datasets: [...setup.plan.datasets, { ...setup.plan.datasets[0]!, name: 'not_started', codaDatasetId: 'stage_test_not_started', codeSchemes: setup.plan.datasets[0]!.codeSchemes.map((scheme) => ({ ...scheme, column: 'not_started_reasons' })) }] };
      const get = (runId: string) => runStage(codaGetImplementation, codingStageContext({ stage: 'coda-get', runId, dataHome, dataRoot, plan, env }).context, 1);

      const first = await get(RUNS[1]);
      assert.equal(first.status, 'succeeded');
      const firstFile = fileURLToPath(first.outputs['coded/s01e01']!.uri);
      assert.equal(firstFile, join(dataRoot, 'coded', RUNS[1], 's01e01.json'));
      const firstMessages = await readJson<CodaMessage[]>(firstFile);
      assert.equal(firstMessages.length, 30);
      assert.deepEqual(firstMessages.map((message) => message.SequenceNumber), Array.from({ length: 30 }, (_, i) => i), 'sorted by SequenceNumber');
      assert.deepEqual(firstMessages.map((message) => message.Text), setup.activation.map((message) => message.Text));
      for (const message of firstMessages) assert.match(message.LastUpdated!, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$/);
      assert.deepEqual(await readJson<unknown[]>(first.outputs['coded/not_started']!.uri), [], 'a dataset absent from Coda is an empty file');
      assert.equal(first.outputs['coded/age']!.records, 5);
      const firstState = await readJson<ExportState>(first.outputs['coded/export-state']!.uri);
      assert.equal(firstState.previousRunId, undefined);
      assert.deepEqual(Object.fromEntries(Object.entries(firstState.datasets).map(([name, state]) => [name, state.read])), { s01e01: 30, age: 5, not_started: 0 });
      assert.deepEqual(Object.keys(firstState.datasets.s01e01!.segments), ['stage_test_s01e01']);
      const firstBytes = await readFile(firstFile);

      // Coders label three messages; someone writes a document Coda's layout does not allow.
      const labelled = [2, 17, 29].map((i) => setup.activation[i]!);
      const opened = await openCodaStore(plan.store, { dataHome, env });
      try {
        await opened.store.labelMessages('stage_test_s01e01', labelled.map((message) => ({ messageId: message.MessageID, label: coderLabel(REASONS_SCHEME.SchemeID, 'code-water') })));
        const broken = codaMessage('a message someone broke');
        await opened.store.documents.commit((batch) => batch.set(`${messagesCollection('stage_test_s01e01')}/${broken.MessageID}`, { MessageID: broken.MessageID, Text: broken.Text, Labels: 'none', SequenceNumber: 99, LastUpdated: SERVER_TIMESTAMP }));
      } finally {
        await opened.close();
      }

      const second = await get(RUNS[2]);
      assert.equal(second.status, 'succeeded', 'every run pulls: its inputs hold the run id');
      const secondState = await readJson<ExportState>(second.outputs['coded/export-state']!.uri);
      assert.equal(secondState.previousRunId, RUNS[1]);
      assert.equal(secondState.datasets.s01e01!.read, 4, 'only the three labelled messages and the broken document were read');
      assert.equal(secondState.datasets.age!.read, 0);
      assert.ok(secondState.datasets.s01e01!.segments.stage_test_s01e01! > firstState.datasets.s01e01!.segments.stage_test_s01e01!);
      const secondMessages = await readJson<CodaMessage[]>(second.outputs['coded/s01e01']!.uri);
      assert.equal(secondMessages.length, 30);
      for (const message of secondMessages) {
        const wasLabelled = labelled.some((l) => l.MessageID === message.MessageID);
        const before = firstMessages.find((m) => m.MessageID === message.MessageID)!;
        if (wasLabelled) {
          assert.deepEqual(message.Labels[0], coderLabel(REASONS_SCHEME.SchemeID, 'code-water'));
          assert.ok(message.LastUpdated! > before.LastUpdated!);
        } else {
          assert.deepEqual(message, before);
        }
      }
      assert.equal(second.outputs['coded/s01e01']!.rejected, 1);
      const rejects = await readLines(second.outputs['coded/rejects']!.uri);
      assert.deepEqual(rejects.map((reject) => [reject.dataset, reject.segment, reject.reason]), [['s01e01', 'stage_test_s01e01', 'does not match the Coda message layout: CreationDateTimeUTC: Invalid input: expected string, received undefined; Labels: Invalid input: expected array, received string']]);
      assert.deepEqual(await readFile(firstFile), firstBytes, 'the earlier version is kept as it was');

      const third = await get(RUNS[3]);
      const thirdState = await readJson<ExportState>(third.outputs['coded/export-state']!.uri);
      assert.equal(thirdState.datasets.s01e01!.read, 0);
      assert.deepEqual(await readJson<CodaMessage[]>(third.outputs['coded/s01e01']!.uri), secondMessages);
    });

    it('refuses a missing upstream output or a bad code scheme file, naming it', async () => {
      const { dataHome, dataRoot, plan, env, upstream } = await setUp(backend);
      const without = { 'generate-outputs': { 'coda/s01e01': upstream['generate-outputs']!['coda/s01e01']! } };
      await assert.rejects(
        runStage(codaAddImplementation, codingStageContext({ stage: 'coda-add', runId: RUNS[0], dataHome, dataRoot, plan, env, upstream: without }).context, 1),
        (err: Error) => err instanceof BadInputError && err.message.includes('generate-outputs output "coda/age": missing'),
      );
      await writeFile(join(dataRoot, plan.datasets[1]!.codeSchemes[0]!.file), JSON.stringify({ ...AGE_SCHEME, Codes: [AGE_SCHEME.Codes[0], AGE_SCHEME.Codes[0]] }));
      await assert.rejects(
        runStage(codaGetImplementation, codingStageContext({ stage: 'coda-get', runId: RUNS[0], dataHome, dataRoot, plan, env }).context, 1),
        (err: Error) => err instanceof BadInputError && err.message.includes('coding.datasets[1].codeSchemes[0].file: raw/code-schemes/test_age.json: Codes[1].CodeID: CodeID "code-young" repeats Codes[0]'),
      );
    });
  });
}

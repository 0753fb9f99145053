/**
 * `npm run bench:coda [-- <messages>]`: the Coda stages' throughput (issue #9). Starts its own Firestore
 * emulator (stopped on every exit path). The messages (100,000 by default) are 4 datasets of a quarter
 * each, so 40 segments of 2,500 at 100k: 40 datasets' worth of segments, with segmenting in play. On the
 * emulator and on the local store, through the stages themselves (runStage, as a worker runs them):
 *   - coda-add of every message: messages/s;
 *   - coda-add again with the same messages (overwrite, so not skipped): how many it adds (must be 0);
 *   - the emulator's ceiling in the same run: bare batched writes (500 per commit, two commits in flight
 *     like the stage's two datasets) of the same documents to another project; best of two passes;
 *   - coda-get of everything, then 1,000 messages labelled as a coder would, then coda-get again: how
 *     many documents the incremental export read (must be about 1,000).
 * Last line: `coda messages_per_s=<n> second_upload_added=<n> ceiling_ratio=<x> incremental_read=<n>`
 * (the emulator's figures; the local store's are printed above it).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { FieldValue, Timestamp } from '@google-cloud/firestore';
import pino from 'pino';

import { codaAddImplementation } from '../activities/coding/coda-add';
import { codaGetImplementation, type ExportState } from '../activities/coding/coda-get';
import { sha256Hex } from '../activities/coding/coda-message-check';
import { messagesCollection, SEGMENT_SIZE,segmentIdOf } from '../activities/coding/coda-store';
import type { CodeScheme } from '../activities/coding/code-scheme';
import { type CodingPlan, codingPlanSchema } from '../activities/coding/coding-plan';
import { openCodaStore } from '../activities/coding/open-coda-store';
import { createFirestoreClient } from '../activities/deid/firestore-uuid-table';
import { chunksOf, forEachConcurrently } from '../activities/deid/uuid-table';
import { runStage, type StageContext } from '../activities/runs/stage-runner';
import type { StageOutputs } from '../activities/runs/types';
import { LocalBlobStore } from '../activities/storage/local-blob-store';
import { runMain, stopAllProcesses } from '../scripts/lib/processes';
import { startFirestoreEmulator } from '../scripts/lib/servers';

const DATASETS = 4;
const CHANGED = 1_000;
const seconds = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;

const SCHEME: CodeScheme = {
  SchemeID: 'Scheme-bench-reasons',
  Name: 'bench_reasons',
  Version: '1.0.0',
  Codes: [
    { CodeID: 'code-crops', CodeType: 'Normal', DisplayText: 'crops', NumericValue: 1, StringValue: 'crops', VisibleInCoda: true },
    { CodeID: 'code-water', CodeType: 'Normal', DisplayText: 'water', NumericValue: 2, StringValue: 'water', VisibleInCoda: true },
    { CodeID: 'code-NC', CodeType: 'Control', ControlCode: 'NC', DisplayText: 'not coded', NumericValue: -10, StringValue: 'NC', VisibleInCoda: true },
  ],
};

function benchMessages(dataset: number, count: number) {
  return Array.from({ length: count }, (_, i) => {
    const text = `dataset ${dataset} listener ${i}: the borehole in our village has been dry since the rains failed`;
    const labels = i % 10 === 0 ? [{ SchemeID: SCHEME.SchemeID, CodeID: 'code-NC', DateTimeUTC: '2026-11-01T10:00:00.000000+00:00', Checked: false, Origin: { OriginID: 'pipeline:bench', Name: 'bench', OriginType: 'Automatic' } }] : [];
    return { MessageID: sha256Hex(text), Text: text, CreationDateTimeUTC: '2026-10-05T08:00:00.000000+00:00', Labels: labels };
  });
}

interface Setup {
  dataHome: string;
  dataRoot: string;
  plan: CodingPlan;
  env: NodeJS.ProcessEnv;
  upstream: Partial<Record<string, StageOutputs>>;
}

function setUp(folder: string, label: string, store: CodingPlan['store'], env: NodeJS.ProcessEnv, perDataset: number): Setup {
  const dataHome = join(folder, label);
  const dataRoot = join(dataHome, 'bench');
  mkdirSync(join(dataRoot, 'raw'), { recursive: true });
  writeFileSync(join(dataRoot, 'raw', 'reasons.json'), JSON.stringify(SCHEME));
  const plan = codingPlanSchema.parse({
    store,
    users: ['coder@example.org'],
    datasets: Array.from({ length: DATASETS }, (_, d) => ({ name: `s01e0${d + 1}`, rawField: `s01e0${d + 1}_raw`, codaDatasetId: `bench_s01e0${d + 1}`, kind: 'activation', codeSchemes: [{ file: 'raw/reasons.json', column: `s01e0${d + 1}_reasons` }] })),
  });
  const outputs: StageOutputs = {};
  const upstreamFolder = join(dataRoot, 'outputs', 'generated', 'coda');
  mkdirSync(upstreamFolder, { recursive: true });
  for (let d = 0; d < DATASETS; d++) {
    const file = join(upstreamFolder, `s01e0${d + 1}.json`);
    writeFileSync(file, JSON.stringify(benchMessages(d, perDataset)));
    outputs[`coda/s01e0${d + 1}`] = { uri: pathToFileURL(file).href };
  }
  return { dataHome, dataRoot, plan, env, upstream: { 'generate-outputs': outputs } };
}

function stageContext<Name extends 'coda-add' | 'coda-get'>(setup: Setup, stage: Name, runId: string, overwrite = false): StageContext<{ stage: Name }> {
  return {
    request: { runId, pipelineName: 'bench', dataRoot: setup.dataRoot, stage: { stage }, upstream: setup.upstream, overwrite, coding: setup.plan },
    dataRoot: setup.dataRoot,
    blobStore: new LocalBlobStore(join(setup.dataHome, '.buckets')),
    logger: pino({ level: 'warn' }),
    now: () => new Date(),
    reportProgress: () => undefined,
    signal: new AbortController().signal,
    openUuidTable: () => Promise.reject(new Error('no UUID table here')),
    openCodaStore: (config) => openCodaStore(config, { dataHome: setup.dataHome, env: setup.env }),
  };
}

interface Figures {
  perSecond: number;
  addSeconds: number;
  secondAdded: number;
  secondSeconds: number;
  fullRead: number;
  fullSeconds: number;
  incrementalRead: number;
  incrementalSeconds: number;
}

async function measure(setup: Setup, total: number, perDataset: number): Promise<Figures> {
  let start = process.hrtime.bigint();
  const first = await runStage(codaAddImplementation, stageContext(setup, 'coda-add', '20261101T000000.000Z-bench01'), 1);
  const addSeconds = seconds(start);
  const added = first.outputs.summary!.records!;
  if (added !== total) throw new Error(`coda-add added ${added} of ${total}`);

  start = process.hrtime.bigint();
  const second = await runStage(codaAddImplementation, stageContext(setup, 'coda-add', '20261102T000000.000Z-bench02', true), 1);
  const secondSeconds = seconds(start);

  start = process.hrtime.bigint();
  const full = await runStage(codaGetImplementation, stageContext(setup, 'coda-get', '20261103T000000.000Z-bench03'), 1);
  const fullSeconds = seconds(start);
  const fullState = JSON.parse(await readFile(fileURLToPath(full.outputs['coded/export-state']!.uri), 'utf8')) as ExportState;

  // A coder labels 1,000 messages spread over every dataset and segment.
  const opened = await openCodaStore(setup.plan.store, { dataHome: setup.dataHome, env: setup.env });
  try {
    for (let d = 0; d < DATASETS; d++) {
      const messages = benchMessages(d, perDataset);
      const picks = Array.from({ length: Math.min(perDataset, CHANGED / DATASETS) }, (_, k) => Math.floor((k * perDataset) / (CHANGED / DATASETS)));
      await opened.store.labelMessages(
        `bench_s01e0${d + 1}`,
        picks.map((i) => ({
          messageId: messages[i]!.MessageID,
          segmentId: segmentIdOf(`bench_s01e0${d + 1}`, Math.floor(i / SEGMENT_SIZE) + 1),
          label: { SchemeID: SCHEME.SchemeID, CodeID: 'code-water', DateTimeUTC: new Date().toISOString(), Checked: true, Origin: { OriginID: 'coder@example.org', Name: 'coder@example.org', OriginType: 'Manual' } },
        })),
      );
    }
  } finally {
    await opened.close();
  }

  start = process.hrtime.bigint();
  const incremental = await runStage(codaGetImplementation, stageContext(setup, 'coda-get', '20261104T000000.000Z-bench04'), 1);
  const incrementalSeconds = seconds(start);
  const incrementalState = JSON.parse(await readFile(fileURLToPath(incremental.outputs['coded/export-state']!.uri), 'utf8')) as ExportState;
  const sum = (state: ExportState, field: 'read' | 'messages'): number => Object.values(state.datasets).reduce((total, dataset) => total + dataset[field], 0);
  if (sum(incrementalState, 'messages') !== total) throw new Error(`the incremental export holds ${sum(incrementalState, 'messages')} messages, not ${total}`);

  return {
    perSecond: total / addSeconds,
    addSeconds,
    secondAdded: second.outputs.summary!.records!,
    secondSeconds,
    fullRead: sum(fullState, 'read'),
    fullSeconds,
    incrementalRead: sum(incrementalState, 'read'),
    incrementalSeconds,
  };
}

function report(label: string, total: number, figures: Figures): void {
  console.log(`  ${label}: coda-add ${Math.round(figures.perSecond).toLocaleString('en')} messages/s (${total.toLocaleString('en')} in ${figures.addSeconds.toFixed(1)} s)`);
  console.log(`  ${label}: second identical coda-add added ${figures.secondAdded} (${figures.secondSeconds.toFixed(1)} s)`);
  console.log(`  ${label}: coda-get read ${figures.fullRead.toLocaleString('en')} in ${figures.fullSeconds.toFixed(1)} s; after ${CHANGED.toLocaleString('en')} labelled, read ${figures.incrementalRead.toLocaleString('en')} in ${figures.incrementalSeconds.toFixed(1)} s`);
}

/** The emulator's ceiling: the same documents written by bare batched writes, as many in flight as the stage has datasets in flight. */
async function ceiling(host: string, total: number, perDataset: number): Promise<number> {
  const firestore = createFirestoreClient({ projectId: 'bench-coda-ceiling', emulatorHost: host });
  try {
    let best = Infinity;
    for (let pass = 0; pass < 2; pass++) {
      const writes: Array<{ path: string; data: Record<string, unknown> }> = [];
      for (let d = 0; d < DATASETS; d++) {
        benchMessages(d, perDataset).forEach((message, i) => {
          const segment = segmentIdOf(`pass${pass}_s01e0${d + 1}`, Math.floor(i / SEGMENT_SIZE) + 1);
          writes.push({ path: `${messagesCollection(segment)}/${message.MessageID}`, data: { ...message, SequenceNumber: i, LastUpdated: FieldValue.serverTimestamp() } });
        });
      }
      const start = process.hrtime.bigint();
      await forEachConcurrently(chunksOf(writes, 500), 2, async (chunk) => {
        const batch = firestore.batch();
        for (const { path, data } of chunk) batch.set(firestore.doc(path), data);
        await batch.commit();
      });
      best = Math.min(best, seconds(start));
    }
    return total / best;
  } finally {
    await firestore.terminate();
  }
}

/** What the emulator takes to answer a query with no result on one segment, best of three. */
async function emptyQueryMs(host: string): Promise<number> {
  const firestore = createFirestoreClient({ projectId: 'bench-coda', emulatorHost: host });
  try {
    let best = Infinity;
    for (let attempt = 0; attempt < 3; attempt++) {
      const start = process.hrtime.bigint();
      await firestore.collection(messagesCollection('bench_s01e01')).where('LastUpdated', '>', Timestamp.now()).get();
      best = Math.min(best, seconds(start) * 1000);
    }
    return best;
  } finally {
    await firestore.terminate();
  }
}

async function main(): Promise<number> {
  const total = Number(process.argv[2] ?? process.env.BENCH_CODA_MESSAGES ?? 100_000);
  if (!Number.isInteger(total) || total < DATASETS * 4 || total % DATASETS !== 0) throw new Error(`messages must be a multiple of ${DATASETS} (at least ${DATASETS * 4}), got ${process.argv[2]}`);
  const perDataset = total / DATASETS;
  const folder = join(tmpdir(), `bench-coda-${process.pid}`);
  mkdirSync(folder, { recursive: true });
  try {
    const emulator = await startFirestoreEmulator({ logFile: join(folder, 'firestore.log') });
    try {
      console.log(`Firestore emulator ${emulator.host} (pid ${emulator.process.pid}); ${total.toLocaleString('en')} messages: ${DATASETS} datasets of ${perDataset.toLocaleString('en')}, ${DATASETS * Math.ceil(perDataset / SEGMENT_SIZE)} segments`);
      // Warm-up (connections, JIT) on a small dataset of its own, not timed.
      await measure(setUp(folder, 'warm-up', { backend: 'firestore', name: 'coda', projectId: 'bench-coda-warm-up' }, { FIRESTORE_EMULATOR_HOST: emulator.host }, 400), DATASETS * 400, 400);

      const started = process.hrtime.bigint();
      const firestore = await measure(setUp(folder, 'firestore', { backend: 'firestore', name: 'coda', projectId: 'bench-coda' }, { FIRESTORE_EMULATOR_HOST: emulator.host }, perDataset), total, perDataset);
      report('emulator', total, firestore);
      console.log(`  emulator: one query of a segment returning nothing takes ${(await emptyQueryMs(emulator.host)).toFixed(0)} ms at this size (it scans its whole database; Firestore uses indexes)`);
      const ceilingRate = await ceiling(emulator.host, total, perDataset);
      console.log(`  emulator ceiling (bare batched writes of the same documents): ${Math.round(ceilingRate).toLocaleString('en')} messages/s`);

      const local = await measure(setUp(folder, 'local', { backend: 'local', name: 'bench' }, {}, perDataset), total, perDataset);
      report('local store', total, local);
      console.log(`  whole benchmark: ${seconds(started).toFixed(0)} s`);
      if (firestore.secondAdded !== 0 || local.secondAdded !== 0) throw new Error('a second identical upload added messages');

      console.log(`coda messages_per_s=${Math.round(firestore.perSecond)} second_upload_added=${firestore.secondAdded + local.secondAdded} ceiling_ratio=${(firestore.perSecond / ceilingRate).toFixed(2)} incremental_read=${firestore.incrementalRead}`);
    } finally {
      await emulator.process.stop();
    }
    return 0;
  } finally {
    await stopAllProcesses();
    rmSync(folder, { recursive: true, force: true });
  }
}

runMain(main);

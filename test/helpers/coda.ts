/**
 * Shared set-up of the Coda tests: both backends of the document store (the Firestore emulator, a local
 * SQLite file), code schemes and messages of our own, and a stage context for coda-add / coda-get.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after } from 'node:test';

import pino from 'pino';

import type { Label } from '../../activities/coding/coda-message';
import { sha256Hex } from '../../activities/coding/coda-message-check';
import { CodaStore, type CodaStoreOptions, messagesCollection, type NewCodaMessage } from '../../activities/coding/coda-store';
import type { CodeScheme } from '../../activities/coding/code-scheme';
import { type CodingPlan, codingPlanSchema, type CodingStoreConfig } from '../../activities/coding/coding-plan';
import type { DocumentData } from '../../activities/coding/document-store';
import { openCodaStore } from '../../activities/coding/open-coda-store';
import type { StageContext } from '../../activities/runs/stage-runner';
import type { StageOutputs } from '../../activities/runs/types';
import { LocalBlobStore } from '../../activities/storage/local-blob-store';
import { openStoreAt, type StoreLocation } from './coda-location';
import { temporaryFolder, testServers } from './environment';
import { uniqueName } from './firestore';

export { openStoreAt, type StoreLocation } from './coda-location';

export const REASONS_SCHEME: CodeScheme = {
  SchemeID: 'Scheme-test-reasons',
  Name: 'test_reasons',
  Version: '0.1.0',
  Codes: [
    { CodeID: 'code-farming', CodeType: 'Normal', DisplayText: 'farming', NumericValue: 1, StringValue: 'farming', VisibleInCoda: true, Shortcut: 'f' },
    { CodeID: 'code-water', CodeType: 'Normal', DisplayText: 'water', NumericValue: 2, StringValue: 'water', VisibleInCoda: true, Shortcut: 'w' },
    { CodeID: 'code-NC', CodeType: 'Control', ControlCode: 'NC', DisplayText: 'not coded', NumericValue: -10, StringValue: 'NC', VisibleInCoda: true },
    { CodeID: 'code-WS', CodeType: 'Control', ControlCode: 'WS', DisplayText: 'wrong scheme', NumericValue: -20, StringValue: 'WS', VisibleInCoda: true },
    { CodeID: 'code-STOP', CodeType: 'Control', ControlCode: 'STOP', DisplayText: 'stop', NumericValue: -30, StringValue: 'STOP', VisibleInCoda: true },
  ],
};

export const AGE_SCHEME: CodeScheme = {
  SchemeID: 'Scheme-test-age',
  Name: 'test_age',
  Version: '0.1.0',
  Codes: [
    { CodeID: 'code-young', CodeType: 'Normal', DisplayText: 'under 30', NumericValue: 1, StringValue: 'under_30', VisibleInCoda: true, MatchValues: ['young'] },
    { CodeID: 'code-old', CodeType: 'Normal', DisplayText: '30 or over', NumericValue: 2, StringValue: '30_or_over', VisibleInCoda: true, MatchValues: ['old'] },
    { CodeID: 'code-age-NC', CodeType: 'Control', ControlCode: 'NC', DisplayText: 'not coded', NumericValue: -10, StringValue: 'NC', VisibleInCoda: true },
  ],
};

export const CODERS = ['coder-one@example.org', 'coder-two@example.org'];

export function pipelineLabel(schemeId: string, codeId: string): Label {
  return { SchemeID: schemeId, CodeID: codeId, DateTimeUTC: '2026-11-01T10:00:00.000000+00:00', Checked: false, Origin: { OriginID: 'pipeline:test', Name: 'test', OriginType: 'Automatic' } };
}

export function coderLabel(schemeId: string, codeId: string, when = '2026-11-02T09:30:00.000000+00:00'): Label {
  return { SchemeID: schemeId, CodeID: codeId, DateTimeUTC: when, Checked: true, Origin: { OriginID: 'coder-one@example.org', Name: 'coder-one@example.org', OriginType: 'Manual' } };
}

/** A message to add: MessageID is the SHA-256 of its text, as Coda's. */
export function codaMessage(text: string, labels: Label[] = []): NewCodaMessage & { Labels: Label[] } {
  return { MessageID: sha256Hex(text), Text: text, CreationDateTimeUTC: '2026-10-05T08:00:00.000000+00:00', Labels: labels };
}

export const listenerText = (index: number): string => `listener message number ${index}: we need clean water and better roads`;

export type BackendName = 'local' | 'firestore';
export const BACKENDS: BackendName[] = ['local', 'firestore'];

const openStores: CodaStore[] = [];
after(() => Promise.all(openStores.map((store) => store.documents.close().catch(() => undefined))));

/** A fresh, empty store on `backend`: a new SQLite file, or a new emulator project. */
export async function freshCodaStore(backend: BackendName, options: CodaStoreOptions = {}): Promise<{ store: CodaStore; location: StoreLocation }> {
  const location = await freshStoreLocation(backend);
  const store = openStoreAt(location, options);
  openStores.push(store);
  return { store, location };
}

export async function freshStoreLocation(backend: BackendName): Promise<StoreLocation> {
  if (backend === 'local') return { backend, file: join(await temporaryFolder('coda-store'), 'coda.sqlite') };
  return { backend, emulatorHost: testServers.firestoreEmulatorHost, projectId: uniqueName('coda') };
}

/** Every message document of a dataset, with the segment holding it. */
export async function allMessages(store: CodaStore, datasetId: string): Promise<Array<{ segmentId: string; id: string; data: DocumentData }>> {
  const out: Array<{ segmentId: string; id: string; data: DocumentData }> = [];
  for (const segmentId of await store.segmentIds(datasetId)) {
    for (const { id, data } of await store.documents.query(messagesCollection(segmentId))) out.push({ segmentId, id, data });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Stage contexts

export interface CodingStageHarness<C> {
  context: StageContext<C>;
  heartbeats: Array<Record<string, unknown>>;
  logs: string[];
}

/** A data root with the code scheme files the plan names, and the plan itself (parsed by the real schema). */
export async function codingDataRoot(backend: BackendName, datasets: Array<{ name: string; codaDatasetId: string; schemes?: CodeScheme[] }>): Promise<{ dataHome: string; dataRoot: string; plan: CodingPlan; env: NodeJS.ProcessEnv }> {
  const dataHome = await temporaryFolder('coding-home');
  const dataRoot = join(dataHome, 'survey');
  await mkdir(join(dataRoot, 'raw', 'code-schemes'), { recursive: true });
  const written = new Set<string>();
  for (const dataset of datasets) {
    for (const scheme of dataset.schemes ?? [REASONS_SCHEME]) {
      if (written.has(scheme.SchemeID)) continue;
      written.add(scheme.SchemeID);
      await writeFile(join(dataRoot, 'raw', 'code-schemes', `${scheme.Name}.json`), JSON.stringify(scheme, null, 2));
    }
  }
  const store: CodingStoreConfig = backend === 'local' ? { backend: 'local', name: 'coda-test' } : { backend: 'firestore', name: 'coda', projectId: uniqueName('coda-stage') };
  const plan = codingPlanSchema.parse({
    store,
    users: CODERS,
    datasets: datasets.map((dataset, index) => ({
      name: dataset.name,
      rawField: `${dataset.name}_raw`,
      codaDatasetId: dataset.codaDatasetId,
      kind: 'activation',
      codeSchemes: (dataset.schemes ?? [REASONS_SCHEME]).map((scheme, schemeIndex) => ({ file: `raw/code-schemes/${scheme.Name}.json`, column: `${dataset.name}_${scheme.Name}_${index}_${schemeIndex}` })),
    })),
  });
  const env = backend === 'firestore' ? { FIRESTORE_EMULATOR_HOST: testServers.firestoreEmulatorHost } : {};
  return { dataHome, dataRoot, plan, env };
}

/** A stage context as the registry builds it, with the Coda store opened the worker's way. */
export function codingStageContext<Name extends 'coda-add' | 'coda-get'>(options: {
  stage: Name;
  runId: string;
  dataHome: string;
  dataRoot: string;
  plan: CodingPlan;
  env: NodeJS.ProcessEnv;
  upstream?: Partial<Record<string, StageOutputs>>;
  overwrite?: boolean;
  storeOptions?: CodaStoreOptions;
}): CodingStageHarness<{ stage: Name }> {
  const heartbeats: Array<Record<string, unknown>> = [];
  const logs: string[] = [];
  const context: StageContext<{ stage: Name }> = {
    request: { runId: options.runId, pipelineName: 'survey', dataRoot: options.dataRoot, stage: { stage: options.stage }, upstream: options.upstream ?? {}, overwrite: options.overwrite ?? false, coding: options.plan },
    dataRoot: options.dataRoot,
    blobStore: new LocalBlobStore(join(options.dataHome, '.buckets')),
    logger: pino({ level: 'info' }, { write: (line: string) => void logs.push(line) }),
    now: () => new Date(),
    reportProgress: (details) => void heartbeats.push(JSON.parse(JSON.stringify(details)) as Record<string, unknown>),
    signal: new AbortController().signal,
    openUuidTable: () => Promise.reject(new Error('the coding stages use no UUID table')),
    openCodaStore: (config) => openCodaStore(config, { dataHome: options.dataHome, env: options.env, ...(options.storeOptions ? { options: options.storeOptions } : {}) }),
  };
  return { context, heartbeats, logs };
}

/**
 * Coda (CodaV2) on a document store, written once for both backends (document-store.ts). The layout is
 * Coda's own, so Coda and the AVF tools read what we write and we read what they write:
 *
 *   datasets/{segment}                         { users: [emails] }
 *   datasets/{segment}/code_schemes/{SchemeID} the code scheme
 *   datasets/{segment}/messages/{MessageID}    { MessageID, Text, CreationDateTimeUTC, Labels, SequenceNumber, LastUpdated }
 *   datasets/{segment}/metrics/messages        { messages_count, messages_with_label, wrong_scheme_messages, not_coded_messages }
 *   segment_counts/{datasetId}                 { segment_count }, once a dataset has a second segment
 *
 * Segments are `<id>`, `<id>_2`, `<id>_3`, … of at most 2,500 messages; each holds the users and code schemes.
 *
 * One document of our own, beside `segment_counts`: `sequence_counters/{datasetId}` { next_sequence_number,
 * segment_count, last_segment_size, revision }. Every add transaction reads and writes it, so concurrent
 * adders (two runs, a retried attempt beside a stuck one) are serialised by the store: a transaction
 * commits only if no other add committed since its writer last looked (`revision`), which makes "not
 * already present" and "highest + 1" true at commit time. Coda's tools ignore collections they do not
 * know; without the counter (a dataset made by another tool) the first add derives it from the messages.
 * A dataset's first message gets SequenceNumber 0. Not covered: another tool adding messages to the same
 * dataset at the same moment without the counter (Coda's own UI does not add messages).
 */
import { forEachConcurrently } from '../deid/uuid-table';
import type { CodeScheme } from './code-scheme';
import {
  type DocumentData,
  DocumentExistsError,
  type DocumentStore,
  type DocumentTransaction,
  type DocumentWrites,
  MAX_WRITES_PER_COMMIT,
  SERVER_TIMESTAMP,
  type StoredDocument,
  StoreTimestamp,
} from './document-store';

export const SEGMENT_SIZE = 2_500;
/** Messages per add transaction: well inside a commit's 500 writes, beside the counter and a new segment's documents. */
export const ADD_BATCH_SIZE = 400;
/** Segments read at once. */
const SEGMENT_CONCURRENCY = 4;

export const segmentIdOf = (datasetId: string, index: number): string => (index <= 1 ? datasetId : `${datasetId}_${index}`);
export const datasetPath = (segmentId: string): string => `datasets/${segmentId}`;
export const messagesCollection = (segmentId: string): string => `datasets/${segmentId}/messages`;
export const codeSchemesCollection = (segmentId: string): string => `datasets/${segmentId}/code_schemes`;
export const metricsPath = (segmentId: string): string => `datasets/${segmentId}/metrics/messages`;
export const segmentCountPath = (datasetId: string): string => `segment_counts/${datasetId}`;
export const sequenceCounterPath = (datasetId: string): string => `sequence_counters/${datasetId}`;

/** A dataset as coda-add pushes it: its Coda id, the coders and the code schemes every segment gets. */
export interface CodaDatasetSpec {
  id: string;
  users: readonly string[];
  codeSchemes: readonly CodeScheme[];
}

/** A message to add: Coda's fields without SequenceNumber and LastUpdated, which the store assigns. */
export interface NewCodaMessage {
  MessageID: string;
  Text: string;
  CreationDateTimeUTC: string;
  Labels: readonly unknown[];
}

export interface MessagesMetrics {
  messages_count: number;
  messages_with_label: number;
  wrong_scheme_messages: number;
  not_coded_messages: number;
}

export interface AddProgress {
  datasetId: string;
  added: number;
  alreadyPresent: number;
  remaining: number;
}

export interface AddResult {
  added: number;
  /** In the dataset before, or added meanwhile by a concurrent adder. */
  alreadyPresent: number;
  /** Repeats of a MessageID within the input (identical texts are one message). */
  duplicates: number;
  segmentCount: number;
  /** Recomputed metrics of the segments that received messages. */
  metrics: Record<string, MessagesMetrics>;
  /** Add transactions that found another adder had moved the counter, and looked again. */
  refreshes: number;
}

/** What an adder knows of a dataset: every MessageID committed up to counter `revision`, and where the next message goes. */
interface DatasetView {
  known: Set<string>;
  /** The segment of each message the last scan found (not kept up to date after it). */
  segmentOf?: Map<string, string>;
  /** Messages per segment id, while they are known exactly (from the scan and this adder's commits; not after another adder's). */
  sizes: Map<string, number> | undefined;
  nextSequenceNumber: number;
  segmentCount: number;
  lastSegmentSize: number;
  revision: number;
}

interface Counter {
  nextSequenceNumber: number;
  segmentCount: number;
  lastSegmentSize: number;
  revision: number;
}

function counterOf(data: DocumentData | undefined): Counter | undefined {
  if (!data) return undefined;
  const number = (field: string): number => (typeof data[field] === 'number' ? (data[field] as number) : 0);
  return { nextSequenceNumber: number('next_sequence_number'), segmentCount: Math.max(1, number('segment_count')), lastSegmentSize: number('last_segment_size'), revision: number('revision') };
}

function segmentCountOf(data: DocumentData | undefined): number {
  const count = data?.segment_count;
  return typeof count === 'number' && count >= 1 ? count : 1;
}

const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

/**
 * Coda's metrics of one segment, as Coda computes them: per message, its latest label of each scheme
 * (Labels[0] first) that is Checked; a message with one is labelled, WS / NC control codes among them make
 * it wrong-scheme / not-coded. Labels naming a scheme or code the segment lacks count as labels only.
 */
export function metricsOf(messages: ReadonlyArray<{ Labels?: unknown }>, schemes: ReadonlyArray<DocumentData>): MessagesMetrics {
  const controlCodes = new Map<string, string | undefined>();
  for (const scheme of schemes) {
    if (!Array.isArray(scheme.Codes)) continue;
    for (const code of scheme.Codes as DocumentData[]) {
      controlCodes.set(`${String(scheme.SchemeID)}\u0000${String(code.CodeID)}`, code.CodeType === 'Control' ? (code.ControlCode as string | undefined) : undefined);
    }
  }
  const metrics: MessagesMetrics = { messages_count: messages.length, messages_with_label: 0, wrong_scheme_messages: 0, not_coded_messages: 0 };
  for (const message of messages) {
    const labels = Array.isArray(message.Labels) ? (message.Labels as DocumentData[]) : [];
    const seen = new Set<unknown>();
    let labelled = false;
    let wrongScheme = false;
    let notCoded = false;
    for (const label of labels) {
      if (label === null || typeof label !== 'object' || seen.has(label.SchemeID)) continue;
      seen.add(label.SchemeID);
      if (label.Checked !== true) continue;
      labelled = true;
      const control = controlCodes.get(`${String(label.SchemeID)}\u0000${String(label.CodeID)}`);
      if (control === 'WS') wrongScheme = true;
      if (control === 'NC') notCoded = true;
    }
    if (labelled) metrics.messages_with_label += 1;
    if (wrongScheme) metrics.wrong_scheme_messages += 1;
    if (notCoded) metrics.not_coded_messages += 1;
  }
  return metrics;
}

export interface CodaStoreOptions {
  segmentSize?: number;
  batchSize?: number;
}

export class CodaStore {
  readonly segmentSize: number;
  private readonly batchSize: number;

  constructor(
    readonly documents: DocumentStore,
    options: CodaStoreOptions = {},
  ) {
    this.segmentSize = options.segmentSize ?? SEGMENT_SIZE;
    this.batchSize = options.batchSize ?? ADD_BATCH_SIZE;
  }

  get description(): string {
    return this.documents.description;
  }

  /** Segments of the dataset: `segment_counts`, 1 without it (also for a dataset that does not exist). */
  async segmentCount(datasetId: string): Promise<number> {
    const [data] = await this.documents.getAll([segmentCountPath(datasetId)]);
    return segmentCountOf(data);
  }

  async segmentIds(datasetId: string): Promise<string[]> {
    return range(1, await this.segmentCount(datasetId)).map((index) => segmentIdOf(datasetId, index));
  }

  /**
   * Users and code schemes into every segment. Users are the union of the dataset's and the plan's (a coder
   * added in Coda is never removed); schemes are set from the plan's files. Returns the users.
   */
  async ensureDataset(dataset: CodaDatasetSpec): Promise<string[]> {
    const segments = await this.segmentIds(dataset.id);
    const [first] = await this.documents.getAll([datasetPath(dataset.id)]);
    const existing = Array.isArray(first?.users) ? (first.users as unknown[]).filter((user): user is string => typeof user === 'string') : [];
    const users = [...new Set([...existing, ...dataset.users])];
    const writes: Array<(batch: DocumentWrites) => void> = [];
    for (const segment of segments) {
      writes.push((batch) => batch.set(datasetPath(segment), { users }, { merge: true }));
      for (const scheme of dataset.codeSchemes) writes.push((batch) => batch.set(`${codeSchemesCollection(segment)}/${scheme.SchemeID}`, { ...scheme }));
    }
    for (let start = 0; start < writes.length; start += MAX_WRITES_PER_COMMIT) {
      const chunk = writes.slice(start, start + MAX_WRITES_PER_COMMIT);
      await this.documents.commit((batch) => chunk.forEach((write) => write(batch)));
    }
    return users;
  }

  /**
   * Adds the messages not already in the dataset (in any segment), each with SequenceNumber = highest + 1
   * and LastUpdated = the commit time, in transactions of `batchSize`. A message already present is never
   * written again: its labels are the coders' work. Safe to re-run after a crash between batches and
   * beside a concurrent adder. `onProgress` follows every committed batch (the next batch waits for it).
   * Then recomputes the metrics of the segments that received messages, and of any whose metrics an
   * interrupted add left behind.
   */
  async addMessages(
    dataset: CodaDatasetSpec,
    messages: readonly NewCodaMessage[],
    onProgress?: (progress: AddProgress) => void | Promise<void>,
    /** Told, before anything is written, which messages the dataset lacks (their ids). */
    onMissing?: (messageIds: string[]) => Promise<void>,
    /** Messages an earlier attempt of the same add wrote: their segments' metrics are recomputed too. */
    addedEarlier?: ReadonlySet<string>,
  ): Promise<AddResult> {
    const users = await this.ensureDataset(dataset);
    const unique = new Map<string, NewCodaMessage>();
    for (const message of messages) if (!unique.has(message.MessageID)) unique.set(message.MessageID, message);
    const duplicates = messages.length - unique.size;

    let view = await this.scan(dataset.id);
    let pending = [...unique.values()].filter((message) => !view.known.has(message.MessageID));
    let alreadyPresent = unique.size - pending.length;
    await onMissing?.(pending.map((message) => message.MessageID));
    let added = 0;
    let refreshes = 0;
    let conflictsInARow = 0;
    const touched = new Set<string>();
    for (const id of addedEarlier ?? []) {
      const segment = view.segmentOf?.get(id);
      if (segment) touched.add(segment);
    }
    const batchSize = Math.max(1, Math.min(this.batchSize, MAX_WRITES_PER_COMMIT - 4 - dataset.codeSchemes.length));

    while (pending.length > 0) {
      const batch = pending.slice(0, batchSize);
      const outcome = await this.documents
        .runTransaction((transaction) => this.addBatch(transaction, dataset, users, view, batch))
        .catch((err: unknown) => {
          // A message there that no adder recorded (another tool wrote it): look at everything again.
          if (!(err instanceof DocumentExistsError) || ++conflictsInARow > 3) throw err;
          return { kind: 'rescan' as const };
        });
      if (outcome.kind === 'committed') {
        conflictsInARow = 0;
        for (const message of batch) view.known.add(message.MessageID);
        for (const [segment, count] of outcome.placed) {
          touched.add(segment);
          view.sizes?.set(segment, (view.sizes.get(segment) ?? 0) + count);
        }
        view = { ...view, ...outcome.view };
        added += batch.length;
        pending = pending.slice(batch.length);
        await onProgress?.({ datasetId: dataset.id, added, alreadyPresent, remaining: pending.length });
        continue;
      }
      if (outcome.kind === 'stale') {
        refreshes += 1;
        view = await this.refresh(dataset.id, view, outcome.counter, outcome.segmentCount);
      } else {
        view = await this.scan(dataset.id);
      }
      const before = pending.length;
      pending = pending.filter((message) => !view.known.has(message.MessageID));
      alreadyPresent += before - pending.length;
    }
    // Also segments an interrupted earlier add filled without getting to their metrics.
    for (const segment of await this.segmentsWithStaleMetrics(dataset.id, view.segmentCount, view.sizes)) touched.add(segment);
    const metrics = await this.recomputeMetrics(dataset.id, [...touched]);
    return { added, alreadyPresent, duplicates, segmentCount: view.segmentCount, metrics, refreshes };
  }

  /**
   * Recomputes `metrics/messages` of each segment from its messages and the dataset's code schemes (the
   * first segment's: Coda keeps them the same in every segment), in a transaction that also reads the
   * dataset's counter: an add committing meanwhile makes it run again, so the last metrics written count
   * every message added before them.
   */
  async recomputeMetrics(datasetId: string, segmentIds: readonly string[]): Promise<Record<string, MessagesMetrics>> {
    const computed = new Map<string, MessagesMetrics>();
    const sorted = [...segmentIds].sort();
    if (sorted.length === 0) return {};
    const schemes = await this.codeSchemesIn(datasetId);
    await forEachConcurrently(sorted, SEGMENT_CONCURRENCY, async (segmentId) => {
      const metrics = await this.documents.runTransaction(async (transaction) => {
        await transaction.getAll([sequenceCounterPath(datasetId)]);
        const messages = await transaction.query(messagesCollection(segmentId), { select: ['Labels'] });
        const metrics = metricsOf(
          messages.map((message) => message.data),
          schemes,
        );
        transaction.set(metricsPath(segmentId), { ...metrics });
        return metrics;
      });
      computed.set(segmentId, metrics);
    });
    return Object.fromEntries(sorted.map((segmentId) => [segmentId, computed.get(segmentId)!]));
  }

  /**
   * Segments whose metrics are missing or count another number of messages than they hold. `sizes`, when
   * known, saves counting each segment (a query per segment, which the emulator answers slowly).
   */
  async segmentsWithStaleMetrics(datasetId: string, segmentCount: number, sizes?: ReadonlyMap<string, number>): Promise<string[]> {
    const segments = range(1, segmentCount).map((index) => segmentIdOf(datasetId, index));
    const metrics = await this.documents.getAll(segments.map(metricsPath));
    const stale: string[] = [];
    await forEachConcurrently(segments, SEGMENT_CONCURRENCY, async (segmentId) => {
      const recorded = metrics[segments.indexOf(segmentId)]?.messages_count;
      const size = sizes?.get(segmentId) ?? (await this.documents.count(messagesCollection(segmentId)));
      if (recorded !== size) stale.push(segmentId);
    });
    return stale.sort();
  }

  /**
   * Messages of every segment, only those with LastUpdated after the segment's mark where it has one.
   * Each segment is one snapshot; its mark moves to the newest LastUpdated read there, so nothing
   * committed later can be older than the mark (timestamps are commit times). Per-segment marks make
   * the AVF client's cross-segment consistency pass (re-reading every segment between the oldest and
   * newest timestamps seen) unnecessary.
   */
  async readMessages(datasetId: string, marks: ReadonlyMap<string, string>): Promise<Array<{ segmentId: string; documents: StoredDocument[] }>> {
    const segments = await this.segmentIds(datasetId);
    const out = new Map<string, StoredDocument[]>();
    await forEachConcurrently(segments, SEGMENT_CONCURRENCY, async (segmentId) => {
      const mark = marks.get(segmentId);
      out.set(segmentId, await this.documents.query(messagesCollection(segmentId), mark === undefined ? {} : { where: [{ field: 'LastUpdated', op: '>', value: new StoreTimestamp(mark) }] }));
    });
    return segments.map((segmentId) => ({ segmentId, documents: out.get(segmentId)! }));
  }

  /** The code schemes stored in a segment, as documents. */
  async codeSchemesIn(segmentId: string): Promise<DocumentData[]> {
    return (await this.documents.query(codeSchemesCollection(segmentId))).map((scheme) => scheme.data);
  }

  /**
   * What a coder does in Coda: puts `label` first in each message's Labels (Labels[0] is the newest) and
   * sets LastUpdated. For the demo's coder script and the tests. Messages are found in whichever segment
   * holds them (`segmentId` saves the search). Returns how many were labelled; unknown ids are skipped.
   */
  async labelMessages(datasetId: string, updates: ReadonlyArray<{ messageId: string; label: DocumentData; segmentId?: string }>): Promise<number> {
    const segments = await this.segmentIds(datasetId);
    let labelled = 0;
    for (let start = 0; start < updates.length; start += ADD_BATCH_SIZE) {
      const chunk = updates.slice(start, start + ADD_BATCH_SIZE);
      const located = new Map<string, string>();
      const unlocated = chunk.filter((update) => update.segmentId === undefined);
      for (const update of chunk) if (update.segmentId !== undefined) located.set(update.messageId, `${messagesCollection(update.segmentId)}/${update.messageId}`);
      if (unlocated.length > 0) {
        const paths = segments.flatMap((segment) => unlocated.map((update) => `${messagesCollection(segment)}/${update.messageId}`));
        const found = await this.documents.getAll(paths);
        found.forEach((data, index) => {
          if (data) located.set(unlocated[index % unlocated.length]!.messageId, paths[index]!);
        });
      }
      const targets = chunk.filter((update) => located.has(update.messageId));
      labelled += await this.documents.runTransaction(async (transaction) => {
        const current = await transaction.getAll(targets.map((update) => located.get(update.messageId)!));
        let count = 0;
        current.forEach((data, index) => {
          if (!data) return;
          const labels = Array.isArray(data.Labels) ? data.Labels : [];
          transaction.set(located.get(targets[index]!.messageId)!, { Labels: [targets[index]!.label, ...labels], LastUpdated: SERVER_TIMESTAMP }, { merge: true });
          count += 1;
        });
        return count;
      });
    }
    return labelled;
  }

  /** Everything an adder needs to know, from the messages themselves (and the counter, read first). */
  private async scan(datasetId: string): Promise<DatasetView> {
    const [counterData, segmentCountData] = await this.documents.getAll([sequenceCounterPath(datasetId), segmentCountPath(datasetId)]);
    const counter = counterOf(counterData);
    const segmentCount = Math.max(segmentCountOf(segmentCountData), counter?.segmentCount ?? 1);
    const known = new Set<string>();
    const segmentOf = new Map<string, string>();
    const sizes = new Map<string, number>();
    let highest = -1;
    await forEachConcurrently(range(1, segmentCount), SEGMENT_CONCURRENCY, async (index) => {
      const segment = segmentIdOf(datasetId, index);
      const documents = await this.documents.query(messagesCollection(segment), { select: ['SequenceNumber'] });
      sizes.set(segment, documents.length);
      for (const { id, data } of documents) {
        known.add(id);
        segmentOf.set(id, segment);
        if (typeof data.SequenceNumber === 'number' && data.SequenceNumber > highest) highest = data.SequenceNumber;
      }
    });
    return {
      known,
      segmentOf,
      nextSequenceNumber: Math.max(counter?.nextSequenceNumber ?? 0, highest + 1),
      segmentCount,
      lastSegmentSize: sizes.get(segmentIdOf(datasetId, segmentCount)) ?? 0,
      sizes,
      revision: counter?.revision ?? 0,
    };
  }

  /** After another adder committed: learn what it added (sequence numbers from ours on) and where the next message goes. */
  private async refresh(datasetId: string, view: DatasetView, counter: Counter | undefined, segmentCount: number): Promise<DatasetView> {
    const known = view.known;
    let highest = view.nextSequenceNumber - 1;
    await forEachConcurrently(range(1, segmentCount), SEGMENT_CONCURRENCY, async (index) => {
      const documents = await this.documents.query(messagesCollection(segmentIdOf(datasetId, index)), {
        where: [{ field: 'SequenceNumber', op: '>=', value: view.nextSequenceNumber }],
        select: ['SequenceNumber'],
      });
      for (const { id, data } of documents) {
        known.add(id);
        if (typeof data.SequenceNumber === 'number' && data.SequenceNumber > highest) highest = data.SequenceNumber;
      }
    });
    return {
      known,
      sizes: undefined,
      nextSequenceNumber: Math.max(counter?.nextSequenceNumber ?? 0, highest + 1),
      segmentCount,
      lastSegmentSize: await this.documents.count(messagesCollection(segmentIdOf(datasetId, segmentCount))),
      revision: counter?.revision ?? 0,
    };
  }

  /** One add transaction: commits `batch` if no adder committed since `view`, otherwise reports what it found. */
  private async addBatch(
    transaction: DocumentTransaction,
    dataset: CodaDatasetSpec,
    users: readonly string[],
    view: DatasetView,
    batch: readonly NewCodaMessage[],
  ): Promise<{ kind: 'stale'; counter: Counter | undefined; segmentCount: number } | { kind: 'committed'; view: Omit<DatasetView, 'known' | 'sizes'>; placed: Map<string, number> }> {
    const [counterData, segmentCountData] = await transaction.getAll([sequenceCounterPath(dataset.id), segmentCountPath(dataset.id)]);
    const counter = counterOf(counterData);
    const segmentCount = Math.max(segmentCountOf(segmentCountData), counter?.segmentCount ?? 1);
    if ((counter?.revision ?? 0) !== view.revision || segmentCount !== view.segmentCount) return { kind: 'stale', counter, segmentCount };

    let next = view.nextSequenceNumber;
    let segment = view.segmentCount;
    let size = view.lastSegmentSize;
    const placed = new Map<string, number>();
    for (const message of batch) {
      if (size >= this.segmentSize) {
        segment += 1;
        size = 0;
        const segmentId = segmentIdOf(dataset.id, segment);
        transaction.set(datasetPath(segmentId), { users: [...users] });
        for (const scheme of dataset.codeSchemes) transaction.set(`${codeSchemesCollection(segmentId)}/${scheme.SchemeID}`, { ...scheme });
        transaction.set(segmentCountPath(dataset.id), { segment_count: segment });
      }
      const segmentId = segmentIdOf(dataset.id, segment);
      placed.set(segmentId, (placed.get(segmentId) ?? 0) + 1);
      transaction.create(`${messagesCollection(segmentId)}/${message.MessageID}`, {
        MessageID: message.MessageID,
        Text: message.Text,
        CreationDateTimeUTC: message.CreationDateTimeUTC,
        Labels: [...message.Labels],
        SequenceNumber: next,
        LastUpdated: SERVER_TIMESTAMP,
      });
      next += 1;
      size += 1;
    }
    const revision = view.revision + 1;
    transaction.set(sequenceCounterPath(dataset.id), { next_sequence_number: next, segment_count: segment, last_segment_size: size, revision, updated_at: SERVER_TIMESTAMP });
    return { kind: 'committed', view: { nextSequenceNumber: next, segmentCount: segment, lastSegmentSize: size, revision }, placed };
  }
}

/**
 * The Coda store on both backends (Firestore emulator, local SQLite): Coda's layout when segmenting,
 * idempotent adds that never overwrite coders' labels, metrics, incremental reads, and the document
 * store's own guarantees (atomic commits, create-if-absent, strictly increasing server timestamps).
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';

import { metricsPath, segmentCountPath, sequenceCounterPath } from '../activities/coding/coda-store';
import { DocumentExistsError, SERVER_TIMESTAMP } from '../activities/coding/document-store';
import { FirestoreDocumentStore } from '../activities/coding/firestore-document-store';
import { openCodaStore } from '../activities/coding/open-coda-store';
import { BadInputError } from '../activities/errors';
import {
  AGE_SCHEME,
  allMessages,
  BACKENDS,
  codaMessage,
  coderLabel,
  CODERS,
  freshCodaStore,
  listenerText,
  pipelineLabel,
  REASONS_SCHEME,
} from './helpers/coda';
import { temporaryFolder } from './helpers/environment';
import { deniedFirestore } from './helpers/firestore';

const DATASET = { id: 'test_s01e01', users: CODERS, codeSchemes: [REASONS_SCHEME, AGE_SCHEME] };

for (const backend of BACKENDS) {
  describe(`Coda store (${backend})`, () => {
    it('splits 2,501 messages into two segments, each with the users and code schemes, segment_counts 2, sequence numbers 0..2,500', async () => {
      const { store } = await freshCodaStore(backend);
      const messages = Array.from({ length: 2_501 }, (_, i) => codaMessage(listenerText(i), i % 10 === 0 ? [pipelineLabel(REASONS_SCHEME.SchemeID, 'code-NC')] : []));
      const result = await store.addMessages(DATASET, messages);
      assert.equal(result.added, 2_501);
      assert.equal(result.alreadyPresent, 0);
      assert.equal(result.segmentCount, 2);

      const [segmentCounts] = await store.documents.getAll([segmentCountPath(DATASET.id)]);
      assert.deepEqual(segmentCounts, { segment_count: 2 });
      const stored = await allMessages(store, DATASET.id);
      assert.equal(stored.filter((message) => message.segmentId === 'test_s01e01').length, 2_500);
      assert.equal(stored.filter((message) => message.segmentId === 'test_s01e01_2').length, 1);
      assert.deepEqual(
        stored.map((message) => message.data.SequenceNumber).sort((a, b) => (a as number) - (b as number)),
        Array.from({ length: 2_501 }, (_, i) => i),
      );
      for (const { id, data } of stored) {
        assert.equal(data.MessageID, id);
        assert.match(String(data.LastUpdated), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$/);
      }
      // Messages go in the order given: the first 2,500 fill the first segment.
      assert.equal(stored.find((message) => message.segmentId === 'test_s01e01_2')!.data.Text, listenerText(2_500));

      for (const segment of ['test_s01e01', 'test_s01e01_2']) {
        const [dataset] = await store.documents.getAll([`datasets/${segment}`]);
        assert.deepEqual(dataset, { users: CODERS });
        const schemes = await store.codeSchemesIn(segment);
        assert.deepEqual(schemes.map((scheme) => scheme.SchemeID).sort(), [AGE_SCHEME.SchemeID, REASONS_SCHEME.SchemeID]);
        assert.deepEqual(schemes.find((scheme) => scheme.SchemeID === REASONS_SCHEME.SchemeID), REASONS_SCHEME);
      }
      // Unchecked (automatic) labels do not count as coded.
      assert.deepEqual(result.metrics, {
        test_s01e01: { messages_count: 2_500, messages_with_label: 0, wrong_scheme_messages: 0, not_coded_messages: 0 },
        test_s01e01_2: { messages_count: 1, messages_with_label: 0, wrong_scheme_messages: 0, not_coded_messages: 0 },
      });
      const [metrics] = await store.documents.getAll([metricsPath('test_s01e01_2')]);
      assert.deepEqual(metrics, { messages_count: 1, messages_with_label: 0, wrong_scheme_messages: 0, not_coded_messages: 0 });
    });

    it('adds nothing the second time, and never overwrites a message a coder labelled', async () => {
      const { store } = await freshCodaStore(backend, { segmentSize: 40 });
      const messages = Array.from({ length: 100 }, (_, i) => codaMessage(listenerText(i)));
      assert.equal((await store.addMessages(DATASET, messages)).added, 100);

      // A coder labels two messages, one of them WS, between the runs.
      const labelled = await store.labelMessages(DATASET.id, [
        { messageId: messages[3]!.MessageID, label: coderLabel(REASONS_SCHEME.SchemeID, 'code-water') },
        { messageId: messages[90]!.MessageID, label: coderLabel(REASONS_SCHEME.SchemeID, 'code-WS') },
      ]);
      assert.equal(labelled, 2);
      const before = new Map((await allMessages(store, DATASET.id)).map((message) => [message.id, message.data]));

      // The next run sends the same messages, one now with an automatic label, plus five new ones and a repeat.
      const again = [...messages.map((message, i) => (i === 3 ? codaMessage(message.Text, [pipelineLabel(REASONS_SCHEME.SchemeID, 'code-NC')]) : message))];
      const extra = Array.from({ length: 5 }, (_, i) => codaMessage(listenerText(1_000 + i)));
      const second = await store.addMessages(DATASET, [...again, ...extra, extra[0]!]);
      assert.equal(second.added, 5);
      assert.equal(second.alreadyPresent, 100);
      assert.equal(second.duplicates, 1);
      const third = await store.addMessages(DATASET, [...again, ...extra]);
      assert.equal(third.added, 0, 'a second identical upload adds nothing');
      assert.deepEqual(third.metrics, {}, 'nothing added, no segment touched');

      const after = await allMessages(store, DATASET.id);
      assert.equal(after.length, 105);
      assert.equal(new Set(after.map((message) => message.id)).size, 105);
      for (const [id, data] of before) assert.deepEqual(after.find((message) => message.id === id)!.data, data, 'an existing message is never rewritten');
      assert.deepEqual((after.find((message) => message.id === messages[3]!.MessageID)!.data.Labels as unknown[])[0], coderLabel(REASONS_SCHEME.SchemeID, 'code-water'));
      assert.deepEqual(
        after.filter((message) => extra.some((e) => e.MessageID === message.id)).map((message) => message.data.SequenceNumber).sort((a, b) => (a as number) - (b as number)),
        [100, 101, 102, 103, 104],
      );
      assert.equal(await store.segmentCount(DATASET.id), 3);

      // Metrics count the coders' checked labels: message 3 is in segment 1, message 90 (WS) in segment 3.
      const metrics = await store.recomputeMetrics(DATASET.id, ['test_s01e01', 'test_s01e01_3']);
      assert.deepEqual(metrics.test_s01e01, { messages_count: 40, messages_with_label: 1, wrong_scheme_messages: 0, not_coded_messages: 0 });
      assert.deepEqual(metrics.test_s01e01_3, { messages_count: 25, messages_with_label: 1, wrong_scheme_messages: 1, not_coded_messages: 0 });
    });

    it('continues a dataset another tool made (no counter): numbers follow the highest, the last segment fills up', async () => {
      const { store } = await freshCodaStore(backend, { segmentSize: 10 });
      const existing = Array.from({ length: 7 }, (_, i) => codaMessage(listenerText(i)));
      await store.documents.commit((batch) => {
        batch.set('datasets/test_s01e01', { users: ['earlier@example.org'] });
        existing.forEach((message, i) => batch.set(`datasets/test_s01e01/messages/${message.MessageID}`, { ...message, SequenceNumber: 100 + i, LastUpdated: SERVER_TIMESTAMP }));
      });
      const result = await store.addMessages(DATASET, [...existing, ...Array.from({ length: 6 }, (_, i) => codaMessage(listenerText(50 + i)))]);
      assert.equal(result.added, 6);
      assert.equal(result.alreadyPresent, 7);
      const stored = await allMessages(store, DATASET.id);
      assert.deepEqual(stored.filter((message) => message.segmentId === 'test_s01e01').length, 10);
      assert.deepEqual(stored.filter((message) => message.segmentId === 'test_s01e01_2').map((message) => message.data.SequenceNumber).sort(), [110, 111, 112]);
      const [dataset] = await store.documents.getAll(['datasets/test_s01e01']);
      assert.deepEqual(dataset, { users: ['earlier@example.org', ...CODERS] }, 'coders already there are kept');
      const [counter] = await store.documents.getAll([sequenceCounterPath(DATASET.id)]);
      assert.equal(counter!.next_sequence_number, 113);
    });

    it('reads only what changed after a mark, per segment', async () => {
      const { store } = await freshCodaStore(backend, { segmentSize: 30 });
      const messages = Array.from({ length: 70 }, (_, i) => codaMessage(listenerText(i)));
      await store.addMessages(DATASET, messages);
      const first = await store.readMessages(DATASET.id, new Map());
      assert.deepEqual(first.map((segment) => [segment.segmentId, segment.documents.length]), [['test_s01e01', 30], ['test_s01e01_2', 30], ['test_s01e01_3', 10]]);
      const marks = new Map(first.map((segment) => [segment.segmentId, segment.documents.map((d) => String(d.data.LastUpdated)).sort().at(-1)!]));
      assert.deepEqual((await store.readMessages(DATASET.id, marks)).map((segment) => segment.documents.length), [0, 0, 0]);
      await store.labelMessages(DATASET.id, [0, 45, 46].map((i) => ({ messageId: messages[i]!.MessageID, label: coderLabel(REASONS_SCHEME.SchemeID, 'code-farming') })));
      const changed = await store.readMessages(DATASET.id, marks);
      assert.deepEqual(changed.map((segment) => segment.documents.map((d) => d.id).sort()), [[messages[0]!.MessageID], [messages[45]!.MessageID, messages[46]!.MessageID].sort(), []]);
    });

    it('commits all or nothing: a create that finds its document fails the whole commit', async () => {
      const { store } = await freshCodaStore(backend);
      await store.documents.commit((batch) => batch.create('things/a', { n: 1 }));
      await assert.rejects(
        store.documents.commit((batch) => {
          batch.create('things/b', { n: 2 });
          batch.create('things/a', { n: 3 });
        }),
        DocumentExistsError,
      );
      assert.deepEqual(await store.documents.getAll(['things/a', 'things/b']), [{ n: 1 }, undefined]);
      // set with merge replaces only the fields given.
      await store.documents.commit((batch) => batch.set('things/a', { m: 'x' }, { merge: true }));
      assert.deepEqual(await store.documents.getAll(['things/a']), [{ n: 1, m: 'x' }]);
      // Queries: where, orderBy, limit, select; documents without the field or of another type never match.
      await store.documents.commit((batch) => {
        for (let i = 0; i < 5; i++) batch.set(`numbers/n${i}`, { value: i, label: `v${i}` });
        batch.set('numbers/text', { value: 'three' });
        batch.set('numbers/none', { label: 'none' });
      });
      const top = await store.documents.query('numbers', { where: [{ field: 'value', op: '>=', value: 2 }], orderBy: { field: 'value', direction: 'desc' }, limit: 2, select: ['value'] });
      assert.deepEqual(top, [{ id: 'n4', data: { value: 4 } }, { id: 'n3', data: { value: 3 } }]);
      assert.equal(await store.documents.count('numbers'), 7);
    });
  });
}

describe('local Coda store', () => {
  it('gives every commit a strictly later server timestamp, with microseconds', async () => {
    const { store } = await freshCodaStore('local');
    const stamps: string[] = [];
    for (let i = 0; i < 200; i++) {
      await store.documents.commit((batch) => batch.set(`ticks/t${i}`, { LastUpdated: SERVER_TIMESTAMP }));
    }
    for (const { data } of await store.documents.query('ticks', { orderBy: { field: 'LastUpdated' } })) stamps.push(String(data.LastUpdated));
    assert.equal(stamps.length, 200);
    for (let i = 1; i < stamps.length; i++) assert.ok(stamps[i]! > stamps[i - 1]!, `${stamps[i]} after ${stamps[i - 1]}`);
  });
});

describe('opening a Coda store', () => {
  it('names the store when its credentials are missing, unreadable or not JSON, or permission is denied', async () => {
    const dataHome = await temporaryFolder('coda-open');
    const config = { backend: 'firestore' as const, name: 'coda', projectId: 'avf-coda-test', credentialsFileUrl: `file://${dataHome}/missing-key.json` };
    await assert.rejects(openCodaStore(config, { dataHome, env: {} }), (err: Error) => err instanceof BadInputError && /Coda store \(Firestore project "avf-coda-test"\).*no such file/.test(err.message));
    await writeFile(`${dataHome}/bad-key.json`, 'not json');
    await assert.rejects(openCodaStore({ ...config, credentialsFileUrl: `file://${dataHome}/bad-key.json` }, { dataHome, env: {} }), (err: Error) => err instanceof BadInputError && /not JSON/.test(err.message));
    await assert.rejects(openCodaStore({ ...config, credentialsFileUrl: 'gs://avf-keys/coda.json' }, { dataHome, env: {}, readObject: () => Promise.reject(new BadInputError('no object gs://avf-keys/coda.json')) }), BadInputError);
    await assert.rejects(openCodaStore({ backend: 'local', name: '../escape' }, { dataHome }), BadInputError);

    // The emulator enforcing rules that deny everything, and a client that is not the admin: PERMISSION_DENIED.
    const { firestore, projectId } = await deniedFirestore('coda-denied');
    const documents = new FirestoreDocumentStore(firestore, `Coda store (Firestore project "${projectId}")`);
    try {
      await assert.rejects(documents.getAll(['segment_counts/x']), (err: Error) => err instanceof BadInputError && err.message.includes(`Coda store (Firestore project "${projectId}"): permission denied`));
    } finally {
      await documents.close();
    }
  });
});

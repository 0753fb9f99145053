/**
 * coda-add under concurrency and crashes, on both backends, with real OS processes:
 * - two adders on overlapping messages at the same moment: every message once, sequence numbers unique
 *   and contiguous, segments never over size;
 * - an adder killed with SIGKILL in the middle of its upload, then run again: the same guarantees.
 * Small segments and batches, so segments are created while the processes contend.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';

import type { AddResult, CodaStore } from '../activities/coding/coda-store';
import { metricsPath, segmentCountPath, sequenceCounterPath } from '../activities/coding/coda-store';
import { allMessages, BACKENDS, CODERS, freshStoreLocation, openStoreAt, REASONS_SCHEME, type StoreLocation } from './helpers/coda';
import { type CodaRaceTask, raceMessage } from './helpers/coda-race-worker';
import { temporaryFolder } from './helpers/environment';

const WORKER = join(__dirname, 'helpers', 'coda-race-worker.ts');
const DATASET_ID = 'race_s01e01';
const SEGMENT_SIZE = 250;
/** Batches per commit: small for the local store (a commit takes a few milliseconds), so the two processes overlap. */
const BATCH_SIZE = { local: 10, firestore: 50 } as const;

const spawned = new Set<ChildProcess>();
function killSpawned(): void {
  for (const child of spawned) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
after(killSpawned);
process.on('exit', killSpawned);

function startWorker(task: CodaRaceTask): { child: ChildProcess; ready: () => Promise<void>; paused: () => Promise<void>; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; batches: (atLeast: number) => Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, JSON.stringify(task)], { stdio: ['pipe', 'pipe', 'inherit'] });
  spawned.add(child);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  void exit.then(() => spawned.delete(child));
  let output = '';
  let added = 0;
  const waiters: Array<{ atLeast: number; resolve: () => void }> = [];
  let readyResolve!: () => void;
  const ready = new Promise<void>((resolve) => (readyResolve = resolve));
  let pausedResolve!: () => void;
  const paused = new Promise<void>((resolve) => (pausedResolve = resolve));
  child.stdout!.on('data', (data: Buffer) => {
    output += data.toString();
    const lines = output.split('\n');
    output = lines.pop()!;
    for (const line of lines) {
      if (line === 'ready') readyResolve();
      if (line === 'paused') pausedResolve();
      const match = /^batch (\d+)$/.exec(line);
      if (match) added = Number(match[1]);
    }
    for (const waiter of waiters.splice(0)) (added >= waiter.atLeast ? waiter.resolve() : waiters.push(waiter));
  });
  const failEarly = <T>(promise: Promise<T>, what: string): Promise<T> =>
    Promise.race([promise, exit.then(({ code, signal }) => Promise.reject(new Error(`coda worker exited (${code ?? signal}) before ${what}`)))]);
  return {
    child,
    ready: () => failEarly(ready, 'it was ready'),
    paused: () => failEarly(paused, 'it paused'),
    exit,
    batches: (atLeast) => failEarly(new Promise<void>((resolve) => waiters.push({ atLeast, resolve })), `${atLeast} messages were added`),
  };
}

function taskFor(location: StoreLocation, folder: string, name: string, indices: number[]): CodaRaceTask {
  return { location, datasetId: DATASET_ID, users: CODERS, codeSchemes: [REASONS_SCHEME], indices, segmentSize: SEGMENT_SIZE, batchSize: BATCH_SIZE[location.backend], out: join(folder, `${name}.json`) };
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

/** Every message once, numbers 0..total-1 exactly once each, segments full before the next starts, segment_counts and counter agree. */
async function checkDataset(t: TestContext, store: CodaStore, total: number): Promise<void> {
  const messages = await allMessages(store, DATASET_ID);
  assert.equal(messages.length, total, 'one document per message');
  assert.equal(new Set(messages.map((message) => message.id)).size, total, 'no MessageID in two segments');
  const expectedIds = new Set(Array.from({ length: total }, (_, i) => raceMessage(i).MessageID));
  for (const message of messages) assert.ok(expectedIds.has(message.id), 'only the messages sent');
  const numbers = messages.map((message) => message.data.SequenceNumber as number).sort((a, b) => a - b);
  assert.deepEqual(numbers, Array.from({ length: total }, (_, i) => i), 'sequence numbers unique and contiguous');
  const segments = Math.ceil(total / SEGMENT_SIZE);
  const sizes = new Map<string, number>();
  for (const message of messages) sizes.set(message.segmentId, (sizes.get(message.segmentId) ?? 0) + 1);
  t.diagnostic(`segments: ${[...sizes].map(([id, size]) => `${id}=${size}`).join(' ')}`);
  assert.equal(sizes.size, segments);
  for (const size of sizes.values()) assert.ok(size <= SEGMENT_SIZE);
  const [segmentCount, counter] = await store.documents.getAll([segmentCountPath(DATASET_ID), sequenceCounterPath(DATASET_ID)]);
  assert.equal(segmentCount?.segment_count, segments);
  assert.equal(counter?.next_sequence_number, total);
  const metrics = await store.documents.getAll([...sizes.keys()].map(metricsPath));
  assert.deepEqual(metrics.map((data) => data?.messages_count), [...sizes.values()], 'every segment has its metrics, counting what it holds');
  for (let index = 2; index <= segments; index++) {
    const schemes = await store.codeSchemesIn(`${DATASET_ID}_${index}`);
    assert.deepEqual(schemes.map((scheme) => scheme.SchemeID), [REASONS_SCHEME.SchemeID], `segment ${index} has the code schemes`);
  }
}

for (const backend of BACKENDS) {
  describe(`coda-add under concurrency and crashes (${backend})`, () => {
    it('two processes adding overlapping messages at once: each message once, sequence numbers unique and contiguous', async (t) => {
      const folder = await temporaryFolder('coda-race');
      const location = await freshStoreLocation(backend);
      // A: 0..1,199 and B: 600..1,799, both starting with the 600 they share.
      // Both pause after their first commit, so the one that committed first then has a stale view: they contend for certain.
      const tasks = [taskFor(location, folder, 'a', [...range(600, 1_200), ...range(0, 600)]), taskFor(location, folder, 'b', range(600, 1_800))];
      const workers = tasks.map((task) => startWorker({ ...task, pauseAfterFirstBatch: true }));
      await Promise.all(workers.map((worker) => worker.ready()));
      for (const worker of workers) worker.child.stdin!.write('go\n');
      await Promise.all(workers.map((worker) => worker.paused()));
      for (const worker of workers) worker.child.stdin!.end('continue\n');
      const exits = await Promise.all(workers.map((worker) => worker.exit));
      assert.deepEqual(exits.map((exit) => exit.code), [0, 0]);
      const results = ['a', 'b'].map((name) => JSON.parse(readFileSync(join(folder, `${name}.json`), 'utf8')) as AddResult);
      t.diagnostic(`added ${results.map((r) => r.added).join(' + ')}, found already there ${results.map((r) => r.alreadyPresent).join(' + ')}, refreshes ${results.map((r) => r.refreshes).join(' + ')}`);
      assert.equal(results[0]!.added + results[1]!.added, 1_800, 'every message added exactly once');
      assert.equal(results[0]!.added + results[0]!.alreadyPresent, 1_200);
      assert.equal(results[1]!.added + results[1]!.alreadyPresent, 1_200);
      assert.ok(results.some((result) => result.refreshes > 0), 'an adder found the other had moved the counter');
      const store = openStoreAt(location);
      try {
        await checkDataset(t, store, 1_800);
      } finally {
        await store.documents.close();
      }
    });

    it('an adder killed mid-upload, then run again: no duplicate, no sequence number collision', async (t) => {
      const folder = await temporaryFolder('coda-crash');
      const location = await freshStoreLocation(backend);
      const total = 1_500;
      const batchSize = BATCH_SIZE[backend];
      const first = startWorker(taskFor(location, folder, 'killed', range(0, total)));
      await first.ready();
      first.child.stdin!.end('go\n');
      // Past the first segment: the re-run adds nothing there, so that segment's metrics must come from noticing they were never written.
      await first.batches(SEGMENT_SIZE + batchSize);
      first.child.kill('SIGKILL');
      const killed = await first.exit;
      assert.equal(killed.signal, 'SIGKILL');

      const store = openStoreAt(location);
      try {
        const survived = (await allMessages(store, DATASET_ID)).length;
        t.diagnostic(`${survived} messages committed before the kill`);
        assert.ok(survived > SEGMENT_SIZE && survived < total, `the kill landed mid-upload (${survived} of ${total} there)`);
        assert.equal(survived % batchSize, 0, 'batches are all or nothing');

        const rerun = startWorker(taskFor(location, folder, 'rerun', range(0, total)));
        await rerun.ready();
        rerun.child.stdin!.end('go\n');
        assert.equal((await rerun.exit).code, 0);
        const result = JSON.parse(readFileSync(join(folder, 'rerun.json'), 'utf8')) as AddResult;
        assert.equal(result.added, total - survived);
        assert.equal(result.alreadyPresent, survived);
        await checkDataset(t, store, total);
      } finally {
        await store.documents.close();
      }
    });
  });
}

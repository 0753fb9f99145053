/**
 * Two OS processes de-identify overlapping sets of 10,000 numbers against one table at the same moment;
 * both start with the 5,000 they share, so they create the same mappings concurrently. Exactly one uuid
 * per number must come out, the same in both, and the table must hold exactly one mapping per number.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';

import { FirestoreUuidTable } from '../activities/deid/firestore-uuid-table';
import { LocalUuidTable } from '../activities/deid/local-uuid-table';
import type { UuidTable, UuidTableCounters } from '../activities/deid/uuid-table';
import { raceNumber, type RaceTask } from './helpers/deid-race-worker';
import { temporaryFolder, testServers } from './helpers/environment';
import { emulatorFirestore, uniqueName } from './helpers/firestore';

const WORKER = join(__dirname, 'helpers', 'deid-race-worker.ts');
const PREFIX = 'avf-phone-uuid-';
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);
// A: 0..9,999 starting with the shared 5,000..9,999; B: 5,000..14,999 in order, so both begin on the same numbers.
const A_INDICES = [...range(5_000, 10_000), ...range(0, 5_000)];
const B_INDICES = range(5_000, 15_000);
const ALL = range(0, 15_000).map(raceNumber);

const spawned = new Set<ChildProcess>();
function killSpawned(): void {
  for (const child of spawned) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
after(killSpawned);
process.on('exit', killSpawned);

interface RaceOutput {
  pairs: Array<[string, string]>;
  counters: UuidTableCounters;
}

/** Starts both workers, waits until both are ready, releases them together and collects their answers. */
async function race(tasks: RaceTask[]): Promise<RaceOutput[]> {
  const children = tasks.map((task) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER, JSON.stringify(task)], { stdio: ['pipe', 'pipe', 'inherit'] });
    spawned.add(child);
    return child;
  });
  try {
    const exits = children.map((child) => new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))));
    await Promise.all(
      children.map(
        (child, i) =>
          new Promise<void>((resolve, reject) => {
            child.stdout!.on('data', (data: Buffer) => data.toString().includes('ready') && resolve());
            void exits[i]!.then((code) => reject(new Error(`race worker ${i} exited with ${code} before it was ready`)));
          }),
      ),
    );
    for (const child of children) child.stdin!.end('go\n');
    assert.deepEqual(await Promise.all(exits), [0, 0]);
    return tasks.map((task) => JSON.parse(readFileSync(task.out, 'utf8')) as RaceOutput);
  } finally {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      spawned.delete(child);
    }
  }
}

/**
 * The checks both backends must pass; `fresh` is a new instance on the same table, `count` its number of
 * mappings. The reverse look-up is checked for every `reverseEvery`-th uuid: the emulator answers each
 * `uuid in` query by scanning the collection (seconds per query at 15,000 documents), real Firestore by index.
 */
async function checkRace(
  t: TestContext,
  outputs: RaceOutput[],
  fresh: UuidTable & { getCounters(): UuidTableCounters },
  count: () => Promise<number>,
  reverseEvery = 1,
): Promise<void> {
  const [a, b] = outputs.map((output) => new Map(output.pairs)) as [Map<string, string>, Map<string, string>];
  assert.equal(a.size, 10_000);
  assert.equal(b.size, 10_000);
  let shared = 0;
  for (const [id, uuid] of a) {
    if (b.has(id)) {
      shared += 1;
      assert.equal(b.get(id), uuid, 'both processes must get the same uuid for a shared number');
    }
  }
  assert.equal(shared, 5_000);
  const union = new Map([...a, ...b]);
  assert.equal(union.size, 15_000);
  assert.equal(new Set(union.values()).size, 15_000, 'no two numbers share a uuid');
  for (const uuid of union.values()) assert.match(uuid, /^avf-phone-uuid-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

  const created = outputs.reduce((sum, output) => sum + output.counters.created, 0);
    t.diagnostic(`created ${outputs.map((o) => o.counters.created).join(' + ')}, creations lost to the other process ${outputs.map((o) => o.counters.conflicts).join(' + ')}`);
  assert.equal(created, 15_000, 'each mapping was created exactly once');
  assert.equal(await count(), 15_000, 'the table holds exactly one mapping per number');

  // A third instance sees the same answers and has nothing left to create.
  const again = await fresh.dataToUuids(ALL);
  assert.deepEqual(again, union);
  assert.equal(fresh.getCounters().created, 0);
  const sample = [...union].filter((_, i) => i % reverseEvery === 0);
  const reverse = await fresh.uuidsToData(sample.map(([, uuid]) => uuid));
  assert.equal(reverse.size, sample.length);
  for (const [id, uuid] of sample) assert.equal(reverse.get(uuid), id);
  t.diagnostic(`reverse look-up checked for ${sample.length} uuids`);
}

describe('de-identification race between two processes', () => {
  it('local table (SQLite): one uuid per number, identical in both processes', async (t) => {
    const folder = await temporaryFolder('deid-race');
    const file = join(folder, 'race.sqlite');
    const tasks: RaceTask[] = [A_INDICES, B_INDICES].map((indices, i) => ({ backend: 'local', file, table: 'race', uuidPrefix: PREFIX, indices, out: join(folder, `out-${i}.json`) }));
    const outputs = await race(tasks);
    const fresh = new LocalUuidTable({ file, uuidPrefix: PREFIX });
    try {
      await checkRace(t, outputs, fresh, async () => fresh.count());
    } finally {
      fresh.close();
    }
  });

  it('Firestore (emulator): one uuid per number, identical in both processes', async (t) => {
    const folder = await temporaryFolder('deid-race-firestore');
    const projectId = uniqueName('deid-race');
    const table = 'race';
    const tasks: RaceTask[] = [A_INDICES, B_INDICES].map((indices, i) => ({
      backend: 'firestore',
      emulatorHost: testServers.firestoreEmulatorHost,
      projectId,
      table,
      uuidPrefix: PREFIX,
      indices,
      out: join(folder, `out-${i}.json`),
    }));
    const outputs = await race(tasks);
    const firestore = emulatorFirestore(projectId);
    try {
      const fresh = new FirestoreUuidTable({ firestore, table, uuidPrefix: PREFIX });
      const count = async () => (await firestore.collection('tables').doc(table).collection('mappings').count().get()).data().count;
      await checkRace(t, outputs, fresh, count, 250);
      assert.ok(outputs.some((output) => output.counters.conflicts > 0), 'the processes really raced: some creations were lost to the other');
    } finally {
      await firestore.terminate();
    }
  });
});

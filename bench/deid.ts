/**
 * `npm run bench:deid`: de-identification throughput (issue #8). Starts its own Firestore emulator (and
 * stops it at the end), then for 100,000 phone numbers of which half are already mapped, shuffled together:
 *   - Firestore (emulator): a fresh table instance and Deidentifier, ids/s;
 *   - the emulator's ceiling in the same run: a bare batched getAll of the same 100,000 document ids
 *     (same chunk size and concurrency, nothing created; best of two passes), and the ratio
 *     de-identification / ceiling. De-identification does all of those reads plus 50,000 creates, so the
 *     ratio stays well below 1 by construction;
 *   - the local SQLite table, ids/s.
 * Last line: `deid ids_per_s=<n> local_ids_per_s=<n> ceiling_ratio=<x>`. BENCH_DEID_IDS overrides the count.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createFirestoreClient, encodeDocumentId, FirestoreUuidTable, MAX_READ_CHUNK } from '../activities/deid/firestore-uuid-table';
import { LocalUuidTable } from '../activities/deid/local-uuid-table';
import { chunksOf, Deidentifier, forEachConcurrently, type UuidTable } from '../activities/deid/uuid-table';
import { runMain, stopAllProcesses } from '../scripts/lib/processes';
import { startFirestoreEmulator } from '../scripts/lib/servers';

const PREFIX = 'avf-phone-uuid-';
const CONCURRENCY = 4; // FirestoreUuidTable's default
const seconds = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;

/** Numbers 0..n-1; the even ones are mapped beforehand. Deterministically shuffled so known and new ones interleave. */
function benchNumbers(count: number): { all: string[]; known: string[] } {
  const all = Array.from({ length: count }, (_, i) => `+2547${String(i).padStart(8, '0')}`);
  let state = 2026;
  for (let i = all.length - 1; i > 0; i--) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const j = state % (i + 1);
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return { all, known: all.filter((id) => Number(id.slice(-8)) % 2 === 0) };
}

async function timeDeidentify(table: UuidTable, ids: string[]): Promise<number> {
  const start = process.hrtime.bigint();
  const uuids = await new Deidentifier(table).deidentify(ids);
  const elapsed = seconds(start);
  if (uuids.length !== ids.length || uuids.some((uuid) => !uuid.startsWith(PREFIX))) throw new Error('de-identification gave wrong answers');
  return elapsed;
}

async function main(): Promise<number> {
  const count = Number(process.env.BENCH_DEID_IDS ?? 100_000);
  const { all, known } = benchNumbers(count);
  const folder = mkdtempSync(join(tmpdir(), 'bench-deid-'));
  try {
    const emulator = await startFirestoreEmulator({ logFile: join(folder, 'firestore.log') });
    console.log(`Firestore emulator ${emulator.host} (pid ${emulator.process.pid}); ${count.toLocaleString('en')} numbers, ${known.length.toLocaleString('en')} mapped beforehand`);
    const firestore = createFirestoreClient({ projectId: 'bench-deid', emulatorHost: emulator.host });
    try {
      // Warm-up (connections, JIT) on another table, then the known half, neither timed.
      await new FirestoreUuidTable({ firestore, table: 'warm-up', uuidPrefix: PREFIX }).dataToUuids(all.slice(0, 2_000));
      let start = process.hrtime.bigint();
      await new FirestoreUuidTable({ firestore, table: 'bench', uuidPrefix: PREFIX }).dataToUuids(known);
      console.log(`  seeding ${known.length.toLocaleString('en')} mappings: ${seconds(start).toFixed(2)} s`);

      const table = new FirestoreUuidTable({ firestore, table: 'bench', uuidPrefix: PREFIX });
      const deidSeconds = await timeDeidentify(table, all);
      const counters = table.getCounters();
      if (counters.created !== count - known.length) throw new Error(`expected ${count - known.length} new mappings, created ${counters.created}`);

      // The ceiling: the same documents read back by bare getAll calls, chunked as the table chunks them;
      // the better of two passes, since the emulator shares the machine's cores.
      const mappings = firestore.collection('tables').doc('bench').collection('mappings');
      let ceilingSeconds = Infinity;
      for (let pass = 0; pass < 2; pass++) {
        start = process.hrtime.bigint();
        let read = 0;
        await forEachConcurrently(chunksOf(all, MAX_READ_CHUNK), CONCURRENCY, async (chunk) => {
          const snapshots = await firestore.getAll(...chunk.map((id) => mappings.doc(encodeDocumentId(id))), { fieldMask: ['uuid'] });
          read += snapshots.filter((snapshot) => snapshot.exists).length;
        });
        ceilingSeconds = Math.min(ceilingSeconds, seconds(start));
        if (read !== count) throw new Error(`ceiling read ${read} documents, expected ${count}`);
      }

      const deidRate = count / deidSeconds;
      const ceilingRate = count / ceilingSeconds;
      console.log(`  Firestore de-identification:  ${Math.round(deidRate).toLocaleString('en')} ids/s (${deidSeconds.toFixed(2)} s, ${counters.created.toLocaleString('en')} created)`);
      console.log(`  emulator ceiling (bare getAll): ${Math.round(ceilingRate).toLocaleString('en')} ids/s (${ceilingSeconds.toFixed(2)} s)`);

      const warmUp = new LocalUuidTable({ file: join(folder, 'warm-up.sqlite'), uuidPrefix: PREFIX });
      await warmUp.dataToUuids(all.slice(0, 2_000));
      warmUp.close();
      const localFile = join(folder, 'bench.sqlite');
      const seedTable = new LocalUuidTable({ file: localFile, uuidPrefix: PREFIX });
      await seedTable.dataToUuids(known);
      seedTable.close();
      const local = new LocalUuidTable({ file: localFile, uuidPrefix: PREFIX });
      const localSeconds = await timeDeidentify(local, all);
      local.close();
      const localRate = count / localSeconds;
      console.log(`  local (SQLite) de-identification: ${Math.round(localRate).toLocaleString('en')} ids/s (${localSeconds.toFixed(2)} s)`);

      console.log(`deid ids_per_s=${Math.round(deidRate)} local_ids_per_s=${Math.round(localRate)} ceiling_ratio=${(deidRate / ceilingRate).toFixed(2)}`);
    } finally {
      await firestore.terminate();
      await emulator.process.stop();
    }
    return 0;
  } finally {
    await stopAllProcesses();
    rmSync(folder, { recursive: true, force: true });
  }
}

runMain(main);

/**
 * One side of the de-identification race test, run as its own OS process: opens the UUID table, says
 * `ready`, waits for `go` on stdin (so both processes start at the same moment), de-identifies its numbers
 * and writes `{ pairs: [[number, uuid], …], counters }` to the output file. Argument: a JSON RaceTask.
 */
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

import { createFirestoreClient, FirestoreUuidTable } from '../../activities/deid/firestore-uuid-table';
import { LocalUuidTable } from '../../activities/deid/local-uuid-table';
import { Deidentifier } from '../../activities/deid/uuid-table';

export interface RaceTask {
  backend: 'local' | 'firestore';
  /** local: the SQLite file. */
  file?: string;
  /** firestore: the emulator and project. */
  emulatorHost?: string;
  projectId?: string;
  table: string;
  uuidPrefix: string;
  /** Indices of the numbers to de-identify, in this order. */
  indices: number[];
  out: string;
}

export const raceNumber = (index: number): string => `+2547${String(index).padStart(8, '0')}`;

async function main(): Promise<void> {
  const task = JSON.parse(process.argv[2]!) as RaceTask;
  const firestore = task.backend === 'firestore' ? createFirestoreClient({ projectId: task.projectId!, emulatorHost: task.emulatorHost! }) : undefined;
  const table = firestore
    ? new FirestoreUuidTable({ firestore, table: task.table, uuidPrefix: task.uuidPrefix })
    : new LocalUuidTable({ file: task.file!, uuidPrefix: task.uuidPrefix, chunkSize: 250 });
  await table.dataToUuids([]); // opens the table (schema, prefix check) before the start signal
  const ids = task.indices.map(raceNumber);

  process.stdout.write('ready\n');
  const lines = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => lines.once('line', () => resolve()));
  lines.close();

  const uuids = await new Deidentifier(table, { chunkSize: 1_000 }).deidentify(ids);
  writeFileSync(task.out, JSON.stringify({ pairs: ids.map((id, i) => [id, uuids[i]]), counters: table.getCounters() }));
  if (table instanceof LocalUuidTable) table.close();
  await firestore?.terminate();
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}

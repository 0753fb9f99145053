/**
 * One coda-add process of the Coda race and crash tests, run as its own OS process: opens the store, says
 * `ready`, waits for `go` on stdin (so two processes start together), adds the messages `indices` name
 * (raceMessage), in that order, and prints `batch <added>` after every committed batch (optionally pausing
 * after the first until told to continue), then writes its
 * AddResult to `out`. The crash test kills it with SIGKILL after a few batches. Argument: a JSON CodaRaceTask.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

import type { NewCodaMessage } from '../../activities/coding/coda-store';
import type { CodeScheme } from '../../activities/coding/code-scheme';
import { openStoreAt, type StoreLocation } from './coda-location';

export interface CodaRaceTask {
  location: StoreLocation;
  datasetId: string;
  users: string[];
  codeSchemes: CodeScheme[];
  indices: number[];
  segmentSize: number;
  batchSize: number;
  /** Say `paused` after the first committed batch and wait for a line: two adders that both committed once, the first's view is then stale. */
  pauseAfterFirstBatch?: boolean;
  out: string;
}

export const raceText = (index: number): string => `race message ${index}: the rains came late this year`;

export function raceMessage(index: number): NewCodaMessage {
  const text = raceText(index);
  return { MessageID: createHash('sha256').update(text).digest('hex'), Text: text, CreationDateTimeUTC: '2026-10-05T08:00:00.000000+00:00', Labels: [] };
}

async function main(): Promise<void> {
  const task = JSON.parse(process.argv[2]!) as CodaRaceTask;
  const store = openStoreAt(task.location, { segmentSize: task.segmentSize, batchSize: task.batchSize });
  await store.segmentCount(task.datasetId); // connects (and creates the SQLite schema) before the start signal
  const lines = createInterface({ input: process.stdin });
  const received: string[] = [];
  const waiting: Array<() => void> = [];
  lines.on('line', (line) => {
    received.push(line);
    waiting.splice(0).forEach((wake) => wake());
  });
  const nextLine = async (): Promise<string> => {
    while (received.length === 0) await new Promise<void>((resolve) => waiting.push(resolve));
    return received.shift()!;
  };
  process.stdout.write('ready\n');
  await nextLine(); // go

  const messages = task.indices.map(raceMessage);
  let batches = 0;
  const result = await store.addMessages({ id: task.datasetId, users: task.users, codeSchemes: task.codeSchemes }, messages, async (progress) => {
    process.stdout.write(`batch ${progress.added}\n`);
    if (++batches === 1 && task.pauseAfterFirstBatch) {
      process.stdout.write('paused\n');
      await nextLine(); // continue
    }
  });
  lines.close();
  writeFileSync(task.out, JSON.stringify(result));
  await store.documents.close();
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

/** The one streaming pass QA makes over a dataset file: each record into the accumulators. */
import { yieldPoint } from '../runs/yield-point';
import { readCsvRecords } from '../storage/csv-reader';
import { DatasetAccumulator } from './accumulators';

export async function accumulateCsv(
  path: string,
  delimiter: ',' | '\t',
  columns: { numeric: readonly string[]; categorical: readonly string[] },
  onProgress: (rows: number) => void = () => undefined,
  signal?: AbortSignal,
): Promise<DatasetAccumulator> {
  let accumulator: DatasetAccumulator | undefined;
  // Adding up is CPU work, and batches may come from the stream's buffer without a turn of the event
  // loop: the yield point lets heartbeats out and stops the pass when the activity is cancelled.
  const pause = yieldPoint(signal);
  for await (const batch of readCsvRecords(path, delimiter, { skipLeadingComments: true })) {
    await pause();
    onProgress(accumulator?.rows ?? 0);
    for (const record of batch) {
      if (accumulator) {
        accumulator.addRecord(record);
        continue;
      }
      const position = new Map(record.map((name, index) => [name, index]));
      const indexOf = (name: string): number => {
        const index = position.get(name);
        if (index === undefined) throw new Error(`${path} has no column "${name}"`);
        return index;
      };
      accumulator = new DatasetAccumulator(columns.numeric.map(indexOf), columns.categorical.map(indexOf));
    }
  }
  return accumulator ?? new DatasetAccumulator([], []);
}

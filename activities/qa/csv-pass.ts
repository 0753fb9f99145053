/** The one streaming pass QA makes over a dataset file: each record into the accumulators. */
import { readCsvRecords } from '../storage/csv-reader';
import { DatasetAccumulator } from './accumulators';

export async function accumulateCsv(
  path: string,
  delimiter: ',' | '\t',
  columns: { numeric: readonly string[]; categorical: readonly string[] },
  onProgress: (rows: number) => void = () => undefined,
): Promise<DatasetAccumulator> {
  let accumulator: DatasetAccumulator | undefined;
  for await (const batch of readCsvRecords(path, delimiter, { skipLeadingComments: true })) {
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

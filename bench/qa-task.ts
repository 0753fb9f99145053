/** One QA of a dataset in its own process (for its peak RSS): prints { seconds, rows, peakRssMb }. */
import { analyseDataset } from '../activities/qa/dataset-qa';
import { qaBenchmarkSpec } from './qa-spec';

async function main(): Promise<void> {
  const [path, rowsText] = process.argv.slice(2);
  const spec = qaBenchmarkSpec(Number(rowsText));
  const started = process.hrtime.bigint();
  const qa = await analyseDataset(path!, spec.tables[0]!, ',');
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(JSON.stringify({ seconds, rows: qa.rows, pValues: qa.corr_p_values.length, peakRssMb: process.resourceUsage().maxRSS / 1024 }));
}

void main();

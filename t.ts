import { writeTableFile } from './activities/synth/generate';
import { analyseDataset } from './activities/qa/dataset-qa';
import { qaBenchmarkSpec } from './bench/qa-spec';
(async () => {
  const spec = qaBenchmarkSpec(1_000_000);
  await writeTableFile(spec, 'dataset', '/tmp/qa-bench.csv', { format: 'csv' });
  const t0 = performance.now();
  const qa = await analyseDataset('/tmp/qa-bench.csv', spec.tables[0]!, ',');
  console.log('seconds', ((performance.now() - t0) / 1000).toFixed(2), 'rows', qa.rows, 'pvalues', qa.corr_p_values.length, 'warnings', qa.warnings.length);
  console.log(qa.numerical_metrics_comparison.slice(0, 5));
  console.log(qa.total_variation_distance.slice(0, 3));
})();

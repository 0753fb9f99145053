import { parseSynthSpec } from './activities/synth/spec';
import { generateTableText } from './activities/synth/generate';
const cols: any[] = [
    { name: 'id', type: 'id', format: { kind: 'uuid', prefix: '' }, primaryKey: true },
    { name: 'household', type: 'foreign-key', references: 'households.household_id' },
    { name: 'gender', type: 'categorical', values: { F: 0.49, M: 0.49, X: 0.02 }, missing: 0.01 },
    { name: 'score', type: 'numeric', distribution: 'normal', mean: 50, sd: 15, min: 0, max: 100, precision: 2 },
    { name: 'age', type: 'numeric', kind: 'integer', min: 18, max: 90 },
    { name: 'visit', type: 'date', from: '2024-01-01', to: '2024-12-31' },
    { name: 'class_id', type: 'grouped-id', format: { kind: 'digits', minLength: 1, maxLength: 3 }, groupSize: 'max(5, min(rows / 100, 500))' },
    { name: 'code', type: 'text', pattern: '[A-Z]{2}\\d{4}' },
    { name: 'const', type: 'constant', value: 'x' },
];
for (const c of cols) {
  const spec = parseSynthSpec({ name: 'b', seed: 1, tables: [{ name: 't', rows: 1000000, columns: [c] }, { name: 'households', rows: 200000, columns: [ { name: 'household_id', type: 'id', format: { kind: 'digits', minLength: 6, maxLength: 8 }, primaryKey: true } ] }] });
  const t0 = performance.now(); let bytes = 0;
  for (const chunk of generateTableText(spec, 't', { format: 'csv' })) bytes += chunk.length;
  console.log(c.name.padEnd(10), 'ns/cell', Math.round((performance.now() - t0) * 1e6 / 1e6));
}
{
  const spec = parseSynthSpec({ name: 'b', seed: 1, tables: [{ name: 't', rows: 1000000, columns: [cols[3], { name: 'pct', type: 'derived', expression: 'score / 100', precision: 4 }] }] });
  const t0 = performance.now(); for (const chunk of generateTableText(spec, 't', { format: 'csv' })) {}
  console.log('score+derived ns/row', Math.round((performance.now() - t0)));
}

/** The benchmark's 10-column mixed table (issue #3): every kind of column the engine generates. */
import { parseSynthSpec, type SynthSpec } from '../activities/synth/spec';

export function benchmarkSpec(rows: number): SynthSpec {
  return parseSynthSpec({
    name: 'bench',
    seed: 2026,
    tables: [
      {
        name: 'messages',
        rows,
        columns: [
          { name: 'message_id', type: 'id', format: { kind: 'uuid', prefix: '' }, primaryKey: true },
          { name: 'participant', type: 'foreign-key', references: 'participants.participant_uuid' },
          { name: 'gender', type: 'categorical', values: { female: 0.48, male: 0.48, other: 0.04 }, missing: 0.02 },
          { name: 'district', type: 'categorical', values: { Mogadishu: 0.3, Baidoa: 0.2, Kismayo: 0.2, Hargeisa: 0.2, Garowe: 0.1 } },
          { name: 'score', type: 'numeric', distribution: 'normal', mean: 50, sd: 12, min: 0, max: 100, precision: 2 },
          { name: 'age', type: 'numeric', kind: 'integer', min: 14, max: 90 },
          { name: 'received', type: 'date', from: '2024-01-01', to: '2024-12-31' },
          { name: 'class_id', type: 'grouped-id', format: { kind: 'digits', minLength: 1, maxLength: 3 }, groupSize: 'int(max(5, min(rows / 100, 500)))' },
          { name: 'code', type: 'text', pattern: '[A-Z]{2}\\d{4}' },
          { name: 'score_pct', type: 'derived', expression: 'score / 100', precision: 4 },
        ],
      },
      {
        name: 'participants',
        rows: Math.max(1, Math.floor(rows / 10)),
        columns: [{ name: 'participant_uuid', type: 'id', format: { kind: 'uuid', prefix: 'avf-phone-uuid-' }, primaryKey: true }],
      },
    ],
  });
}

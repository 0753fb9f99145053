/**
 * What QA expects of each column, from the spec: a numeric column's mean, sd, min, max and missing share
 * (the moments of its distribution), a categorical column's proportions (with `nan` the missing share).
 * Columns that are not compared are listed with the reason.
 */
import { conditionalMoments } from '../synth/conditional';
import type { TableSpec } from '../synth/spec';
import type { QaWarning } from './output';

/** `expected` is null for an identifier tested only for independence (its values are ids, nothing to compare). */
export type Compared =
  | { name: string; kind: 'numeric'; expected: { mean: number; sd: number; min: number; max: number; missing: number } | null }
  | { name: string; kind: 'categorical'; expected: Map<string, number> | null };

/** Why a column of this type is left out of the comparisons. */
const NOT_COMPARED: Record<Exclude<TableSpec['columns'][number]['type'], 'numeric' | 'categorical' | 'paired'>, string> = {
  derived: 'derived from other columns of the row, so correlated with them by design',
  id: 'an identifier',
  'foreign-key': 'an identifier',
  'grouped-id': 'an identifier',
  date: 'dates are not compared',
  text: 'free text is not compared',
  constant: 'a constant',
};

/**
 * What can be compared, from the spec; everything else is listed with the reason. Identifiers marked
 * `qa: numeric|categorical` are in the pair tests (as BIT's QA tests them) with a note saying why their
 * values are not compared.
 */
export function comparedColumns(table: TableSpec): { compared: Compared[]; notCompared: QaWarning[]; notes: QaWarning[] } {
  const compared: Compared[] = [];
  const notCompared: QaWarning[] = [];
  const notes: QaWarning[] = [];
  for (const column of table.columns) {
    if ((column.type === 'id' || column.type === 'grouped-id') && column.qa) {
      compared.push({ name: column.name, kind: column.qa, expected: null });
      notes.push({
        Name: column.name,
        reason: `an identifier, tested for independence as a ${column.qa} column (BIT's QA tests it as the type its summary gave it); its values are ids, so they are not compared with the summary`,
      });
      continue;
    }
    switch (column.type) {
      case 'numeric': {
        let mean: number;
        let sd: number;
        if (column.weights || column.distribution === 'weighted') {
          ({ mean, sd } = conditionalMoments(column, table));
        } else if (column.distribution === 'normal') {
          mean = column.mean!;
          sd = column.sd!;
        } else if (column.kind === 'integer') {
          const [a, b] = [Math.ceil(column.min), Math.floor(column.max)];
          mean = (a + b) / 2;
          sd = Math.sqrt(((b - a + 1) ** 2 - 1) / 12);
        } else {
          mean = (column.min + column.max) / 2;
          sd = (column.max - column.min) / Math.sqrt(12);
        }
        compared.push({ name: column.name, kind: 'numeric', expected: { mean, sd, min: column.min, max: column.max, missing: column.missing } });
        break;
      }
      case 'categorical': {
        const total = Object.values(column.values).reduce((sum, p) => sum + p, 0);
        const expected = new Map(Object.entries(column.values).map(([value, p]) => [value, ((1 - column.missing) * p) / total]));
        expected.set('nan', column.missing);
        compared.push({ name: column.name, kind: 'categorical', expected });
        break;
      }
      case 'paired':
        notCompared.push({ Name: column.name, reason: `paired with ${column.source}, so correlated with it by design` });
        break;
      default:
        notCompared.push({ Name: column.name, reason: NOT_COMPARED[column.type] });
    }
  }
  return { compared, notCompared, notes };
}

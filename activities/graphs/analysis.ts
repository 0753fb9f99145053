/**
 * Analysis graphs of message-shaped data (seed 004): messages and unique participants per period (day,
 * week, month or radio episode) and the distribution of codes per code scheme, each as a chart (SVG,
 * PNG, PDF) with its CSV table beside it.
 */
import { CONTROL_CODES } from '../coding/code-scheme';
import { BadInputError } from '../errors';
import { yieldPoint } from '../runs/yield-point';
import { csvLine } from '../storage/csv-cells';
import { readCsvRecords } from '../storage/csv-reader';

export type PeriodKind = 'day' | 'week' | 'month' | { episodeColumn: string };

export interface MessageColumns {
  timestampColumn: string;
  participantColumn: string;
  period: PeriodKind;
  codeSchemes: string[];
}

/**
 * What a blank code cell means: `not-coded` (counted as NC, as Coda shows an unlabelled message), or
 * `not-in-scheme` (generate-outputs' messages.csv: the message belongs to another dataset; not counted).
 */
export type BlankCells = 'not-coded' | 'not-in-scheme';

export interface MessageSummary {
  periodTitle: string;
  perPeriod: Array<{ period: string; messages: number; participants: number }>;
  /** Per scheme: normal codes by name, then control codes (NR, NC, …) in CONTROL_CODES order; shares of the messages counted for the scheme. */
  codes: Array<{ scheme: string; counts: Array<{ code: string; messages: number; share: number }> }>;
  /** Rows left out, with why. */
  skipped: { rows: number; reason: string } | undefined;
}

/** The Monday (UTC) of the week of `time`, as YYYY-MM-DD. */
export function weekStart(time: number): string {
  const date = new Date(time);
  const weekday = (date.getUTCDay() + 6) % 7; // Monday 0 … Sunday 6
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() - weekday)).toISOString().slice(0, 10);
}

const CONTROL_ORDER = new Map<string, number>(CONTROL_CODES.map((code, index) => [code, index]));

/** Normal codes by name first, then control codes in their fixed order: the charts keep NR/NC/NA apart from the themes. */
function codeOrder(a: string, b: string): number {
  const controlA = CONTROL_ORDER.get(a);
  const controlB = CONTROL_ORDER.get(b);
  if (controlA !== undefined || controlB !== undefined) return (controlA ?? -1) - (controlB ?? -1);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `onProgress` gets the rows read so far after each batch; an abort of `signal` stops the reading between batches. */
export async function summariseMessages(
  path: string,
  delimiter: ',' | '\t',
  columns: MessageColumns,
  blankCells: BlankCells = 'not-coded',
  onProgress: (rows: number) => void = () => undefined,
  signal?: AbortSignal,
): Promise<MessageSummary> {
  const perPeriod = new Map<string, { messages: number; participants: Set<string> }>();
  const codeCounts = columns.codeSchemes.map(() => new Map<string, number>());
  const schemeTotals = columns.codeSchemes.map(() => 0);
  let indexes: { timestamp: number; participant: number; episode: number; schemes: number[] } | undefined;
  let skippedRows = 0;
  let rows = 0;
  const pause = yieldPoint(signal);
  for await (const batch of readCsvRecords(path, delimiter, { skipLeadingComments: true })) {
    await pause();
    onProgress(rows);
    rows += batch.length;
    for (const record of batch) {
      if (!indexes) {
        const position = (name: string, field: string): number => {
          const index = record.indexOf(name);
          if (index < 0) throw new BadInputError(`${field}: ${path} has no column "${name}"`);
          return index;
        };
        indexes = {
          timestamp: position(columns.timestampColumn, 'timestampColumn'),
          participant: position(columns.participantColumn, 'participantColumn'),
          episode: typeof columns.period === 'object' ? position(columns.period.episodeColumn, 'period.episodeColumn') : -1,
          schemes: columns.codeSchemes.map((scheme, i) => position(scheme, `codeSchemes[${i}]`)),
        };
        continue;
      }
      let period: string;
      if (typeof columns.period === 'object') {
        period = record[indexes.episode]!;
        if (period === '') {
          skippedRows += 1;
          continue;
        }
      } else {
        const time = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(record[indexes.timestamp]!) ? record[indexes.timestamp]! : `${record[indexes.timestamp]}Z`);
        if (Number.isNaN(time)) {
          skippedRows += 1;
          continue;
        }
        period = columns.period === 'day' ? new Date(time).toISOString().slice(0, 10) : columns.period === 'month' ? new Date(time).toISOString().slice(0, 7) : weekStart(time);
      }
      let entry = perPeriod.get(period);
      if (!entry) {
        entry = { messages: 0, participants: new Set() };
        perPeriod.set(period, entry);
      }
      entry.messages += 1;
      if (record[indexes.participant]) entry.participants.add(record[indexes.participant]!);
      indexes.schemes.forEach((index, s) => {
        if (record[index] === '' && blankCells === 'not-in-scheme') return;
        const code = record[index] === '' ? 'NC' : record[index]!; // NC: not coded, as in Coda
        codeCounts[s]!.set(code, (codeCounts[s]!.get(code) ?? 0) + 1);
        schemeTotals[s]! += 1;
      });
    }
  }
  const periods = [...perPeriod.keys()].sort();
  return {
    periodTitle: typeof columns.period === 'object' ? 'Episode' : { day: 'Day', week: 'Week starting', month: 'Month' }[columns.period],
    perPeriod: periods.map((period) => ({ period, messages: perPeriod.get(period)!.messages, participants: perPeriod.get(period)!.participants.size })),
    codes: columns.codeSchemes.map((scheme, s) => ({
      scheme,
      counts: [...codeCounts[s]!]
        .sort(([a], [b]) => codeOrder(a, b))
        .map(([code, messages]) => ({ code, messages, share: schemeTotals[s] ? messages / schemeTotals[s] : 0 })),
    })),
    skipped: skippedRows ? { rows: skippedRows, reason: typeof columns.period === 'object' ? 'no episode' : 'timestamp not a date' } : undefined,
  };
}

export function csvOf(header: string[], rows: Array<Array<string | number>>): string {
  return [header, ...rows].map((row) => csvLine(row.map(String), ',')).join('');
}

/** Calendar math of date columns: the instants a column can take, and how they are written. */
import type { ColumnOf } from './spec';
import { formatStrftime } from './strftime';

export const DAY = 86_400_000;

/** `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM[:SS]` (UTC) as epoch milliseconds; undefined when not a real date. */
export function parseDate(text: string): number | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?Z?)?$/.exec(text.trim());
  if (!match) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0'] = match;
  const time = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const check = new Date(time);
  return check.getUTCDate() === Number(d) && check.getUTCMonth() === Number(mo) - 1 ? time : undefined;
}

/** A strftime format (see strftime.ts), or ISO 8601 without one. */
export function formatDate(time: number, format: string | undefined, datetime: boolean): string {
  if (format === undefined) return datetime ? new Date(time).toISOString().slice(0, 19) : new Date(time).toISOString().slice(0, 10);
  return formatStrftime(time, format);
}

export interface DateCandidates {
  count: number;
  at(index: number): number;
}

/** The instants a date column can take: every step of its frequency from `from` to `to`. */
export function dateCandidates(column: ColumnOf<'date'>): DateCandidates {
  const from = parseDate(column.from)!;
  const to = parseDate(column.to)!;
  const frequency = column.frequency ?? (column.datetime ? undefined : 'D');
  if (frequency === undefined) {
    const seconds = Math.floor((to - from) / 1000) + 1;
    return { count: seconds, at: (index) => from + index * 1000 };
  }
  if (frequency === 'D' || frequency === 'W' || frequency === 'H') {
    const step = frequency === 'D' ? DAY : frequency === 'W' ? 7 * DAY : DAY / 24;
    return { count: Math.floor((to - from) / step) + 1, at: (index) => from + index * step };
  }
  if (frequency === 'ME' || frequency === 'QE' || frequency === 'YE') {
    // Month, quarter or year ends (the last day, at midnight) on or after `from`.
    const months = frequency === 'ME' ? 1 : frequency === 'QE' ? 3 : 12;
    const start = new Date(from);
    let month = start.getUTCFullYear() * 12 + start.getUTCMonth();
    const endOf = (absolute: number): number => Date.UTC(Math.floor(absolute / 12), (absolute % 12) + 1, 0);
    if (endOf(month) < from) month += 1;
    while ((month + 1) % months !== 0) month += 1;
    const at = (index: number): number => endOf(month + index * months);
    let count = 0;
    while (at(count) <= to) count++;
    return { count, at };
  }
  // Month, quarter or year starts on or after `from`.
  const months = frequency === 'MS' ? 1 : frequency === 'QS' ? 3 : 12;
  const start = new Date(from);
  const startsExactly = start.getUTCDate() === 1 && start.getUTCHours() === 0 && start.getUTCMinutes() === 0 && start.getUTCSeconds() === 0;
  const startMonth = start.getUTCFullYear() * 12 + start.getUTCMonth();
  let month = startsExactly ? startMonth : startMonth + 1;
  while (month % months !== 0) month += 1;
  const at = (index: number): number => {
    const absolute = month + index * months;
    return Date.UTC(Math.floor(absolute / 12), absolute % 12, 1);
  };
  let count = 0;
  while (at(count) <= to) count++;
  return { count, at };
}

/** The date of the `uniques`-th step of a frequency from `from` (exhibit's `from` + `uniques`), as YYYY-MM-DD[THH:MM:SS]. */
export function lastOfSteps(from: string, frequency: NonNullable<ColumnOf<'date'>['frequency']>, uniques: number): string {
  const far = new Date(parseDate(from)!);
  far.setUTCFullYear(far.getUTCFullYear() + Math.ceil(uniques / (frequency === 'H' ? 8760 : frequency === 'D' ? 365 : frequency === 'W' ? 52 : frequency.startsWith('M') ? 12 : frequency.startsWith('Q') ? 4 : 1)) + 2);
  const candidates = dateCandidates({ name: '', type: 'date', from, to: far.toISOString().slice(0, 19), frequency, datetime: frequency === 'H', missing: 0 });
  const iso = new Date(candidates.at(Math.max(0, uniques - 1))).toISOString();
  return frequency === 'H' ? iso.slice(0, 19) : iso.slice(0, 10);
}

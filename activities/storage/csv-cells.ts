/**
 * CSV/TSV cells exactly as csv-stringify writes them with its defaults (quote `"`, escape by doubling,
 * record delimiter `\n`): a cell is quoted when it contains the quote, the delimiter, `\n` or `\r`.
 * The generator escapes each distinct categorical value once and skips the check for values that can
 * never need it (numbers, ids, formatted dates); test/synth-csv.test.ts proves byte-equality with
 * csv-stringify over random values.
 */

export type Delimiter = ',' | '\t';

export const DELIMITERS = { csv: ',', tsv: '\t' } as const satisfies Record<string, Delimiter>;
export type OutputFormat = keyof typeof DELIMITERS;

export function needsQuotes(value: string, delimiter: Delimiter): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code === 34 /* " */ || code === 10 || code === 13 || code === delimiter.charCodeAt(0)) return true;
  }
  return false;
}

export function escapeCell(value: string, delimiter: Delimiter): string {
  return needsQuotes(value, delimiter) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** True if no string drawn from these characters could need quoting. */
export function alphabetIsSafe(alphabet: string, delimiter: Delimiter): boolean {
  return !needsQuotes(alphabet, delimiter);
}

export function csvLine(cells: readonly string[], delimiter: Delimiter): string {
  return `${cells.map((cell) => escapeCell(cell, delimiter)).join(delimiter)}\n`;
}

/** Writing text cells as bytes: pre-encoded cells, and quoting only when the text needs it. */
import { type Delimiter, escapeCell } from '../storage/csv-cells';
import { ByteWriter } from './byte-writer';

export const encode = (text: string): Buffer => Buffer.from(text, 'utf8');
export const isAscii = (text: string): boolean => /^[\x00-\x7f]*$/.test(text);

/** Writes a string cell, quoting it if needed. */
export function writeTextCell(text: string, out: ByteWriter, delimiter: Delimiter, knownSafe = false): void {
  const cell = knownSafe ? text : escapeCell(text, delimiter);
  if (isAscii(cell)) out.ascii(cell);
  else out.text(cell);
}

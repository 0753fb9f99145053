/** exhibit's pipe tables: a list of lines `a | b | c`, the first line naming the columns. */
export function parsePipeTable(lines: unknown, path: string, options: { padShortRows?: boolean } = {}): { header: string[]; rows: string[][] } {
  if (!Array.isArray(lines) || lines.length === 0 || !lines.every((line) => typeof line === 'string' || typeof line === 'number')) {
    throw new Error(`${path}: expected a list of "a | b" lines`);
  }
  const split = (line: string | number): string[] => String(line).split('|').map((cell) => cell.trim());
  const [header, ...rows] = lines.map(split) as [string[], ...string[][]];
  // `a | b |`: fromdata ends its lines with a separator; the empty last cell is no column.
  if (header.length > 1 && header[header.length - 1] === '') {
    header.pop();
    for (const row of rows) if (row.length > header.length && row[row.length - 1] === '') row.pop();
  }
  rows.forEach((row, index) => {
    // exhibit reads a short row (e.g. a `Missing data` row without its weights) as empty trailing cells.
    if (options.padShortRows && row.length < header.length) while (row.length < header.length) row.push('');
    if (row.length !== header.length) throw new Error(`${path}[${index + 1}]: ${row.length} cells, but the header has ${header.length}`);
  });
  return { header, rows };
}

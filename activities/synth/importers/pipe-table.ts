/** exhibit's pipe tables: a list of lines `a | b | c`, the first line naming the columns. */
export function parsePipeTable(lines: unknown, path: string): { header: string[]; rows: string[][] } {
  if (!Array.isArray(lines) || lines.length === 0 || !lines.every((line) => typeof line === 'string' || typeof line === 'number')) {
    throw new Error(`${path}: expected a list of "a | b" lines`);
  }
  const split = (line: string | number): string[] => String(line).split('|').map((cell) => cell.trim());
  const [header, ...rows] = lines.map(split) as [string[], ...string[][]];
  rows.forEach((row, index) => {
    if (row.length !== header.length) throw new Error(`${path}[${index + 1}]: ${row.length} cells, but the header has ${header.length}`);
  });
  return { header, rows };
}

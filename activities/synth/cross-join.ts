/**
 * exhibit's cross_join_all_unique_values. exhibit draws rows / K "core" rows (K: the product of the
 * cross-joined columns' value counts) and joins each with every combination of those values. Here row r
 * is combination r mod K of core row ⌊r / K⌋: each block of K consecutive rows holds every combination
 * once (the last cross-joined column varies fastest, as exhibit's successive joins give), and the other
 * drawn columns (categorical, date, paired) take one draw per core row. A cell still depends only on its
 * row, so shards work as before; a table without cross-joined columns is unchanged (K = 1).
 */
import { crossJoinCount, type TableSpec } from './spec';

export interface CrossJoin {
  /** Combinations: every block of this many consecutive rows holds each once. */
  size: number;
  /** Per cross-joined column: its value count and how many rows each of its values spans in a block. */
  digits: ReadonlyMap<string, { count: number; stride: number }>;
}

export function crossJoinOf(table: TableSpec): CrossJoin | undefined {
  const joined = table.columns.filter((column) => (column.type === 'categorical' || column.type === 'date') && column.crossJoin === true);
  if (joined.length === 0) return undefined;
  const digits = new Map<string, { count: number; stride: number }>();
  let size = 1;
  for (const column of [...joined].reverse()) {
    const count = crossJoinCount(column as Parameters<typeof crossJoinCount>[0]);
    digits.set(column.name, { count, stride: size });
    size *= count;
  }
  return { size, digits };
}

/** The row whose draw a core-drawn column uses for row `row`: its core row (the row itself without a cross join). */
export function coreRow(crossJoin: CrossJoin | undefined, row: number): number {
  return crossJoin === undefined ? row : Math.floor(row / crossJoin.size);
}

/** The index of a cross-joined column's value in row `row`. */
export function joinedIndex(digit: { count: number; stride: number }, size: number, row: number): number {
  return Math.floor((row % size) / digit.stride) % digit.count;
}

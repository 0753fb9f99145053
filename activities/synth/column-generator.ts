/**
 * What every column generator is: for each block of rows it first computes its values (typed arrays,
 * and raw values when another column reads them), then writes its cells row by row as bytes. A cell
 * depends only on (seed, table, column, row), never on earlier rows.
 */
import type { Delimiter } from '../storage/csv-cells';
import type { ByteWriter } from './byte-writer';
import type { CrossJoin } from './cross-join';
import type { Value } from './expression';
import * as random from './random';
import type { SynthSpec, TableSpec } from './spec';

export interface ColumnGenerator {
  readonly name: string;
  /** Names of same-row columns this one reads. */
  readonly dependsOn: string[];
  /** Raw values of the current block, kept only when another column reads them. */
  raw?: Value[];
  /**
   * Computes the values of the block's rows: start … start+count-1, or rows[0 … count-1] when given
   * (rows in any order, e.g. a series period written in its shuffled order).
   */
  compute(start: number, count: number, columns: ReadonlyMap<string, ColumnGenerator>, rows?: Float64Array): void;
  /** Writes the CSV cell of the block's row `index`. */
  write(index: number, out: ByteWriter): void;
  /** A number that orders the block's row `index` as its value does when the text would not (dates in any format); NaN when missing. */
  orderKey?(index: number): number;
}

/** A table's primary key as a function of the row: how foreign keys point at rows without a pool. */
export interface PrimaryKey {
  rows: number;
  valueAt(row: number): string;
  writeValueAt(row: number, out: ByteWriter): void;
}

export interface GeneratorContext {
  spec: SynthSpec;
  table: TableSpec;
  delimiter: Delimiter;
  blockSize: number;
  /** The table's cross-joined columns, if any (cross-join.ts). */
  crossJoin?: CrossJoin;
  primaryKeyOf(tableName: string): PrimaryKey;
}

const { keyOf, nextHash, unit } = random;

/** Missing cells: decided by their own draw so the value draws stay the same whatever `missing` is. */
export function isMissing(hash: number, missing: number): boolean {
  return missing > 0 && unit(nextHash(hash, 1000)) < missing;
}

export abstract class BaseGenerator implements ColumnGenerator {
  raw?: Value[];
  readonly dependsOn: string[] = [];
  protected readonly key: number;
  protected start = 0;

  constructor(
    readonly name: string,
    protected readonly context: GeneratorContext,
    key?: number,
  ) {
    this.key = key ?? keyOf(context.spec.seed, context.table.name, name);
  }

  abstract compute(start: number, count: number, columns: ReadonlyMap<string, ColumnGenerator>, rows?: Float64Array): void;
  abstract write(index: number, out: ByteWriter): void;
}

/** The free-disk check made before large writes: refused as bad input, with the figure and the space free. */
import { existsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';

import { BadInputError } from '../errors';

/** Bytes free for an unprivileged writer on the disk `folder` is (or will be) on: its nearest existing ancestor's. */
export async function freeBytesFor(folder: string): Promise<{ folder: string; free: number }> {
  let existing = folder;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  const disk = await statfs(existing);
  return { folder: existing, free: disk.bavail * disk.bsize };
}

/**
 * Refuses writing about `bytes` into `folder` when the disk has less free than that with a 10 % margin.
 * `what` names the writing ("the spec's tables", "periods 1 … 4 of series weekly").
 */
export async function checkFreeSpace(folder: string, bytes: number, what: string): Promise<void> {
  const { folder: existing, free } = await freeBytesFor(folder);
  if (bytes * 1.1 > free) throw new BadInputError(`${what} would take about ${bytes} bytes, and the disk of ${existing} has ${free} bytes free`);
}

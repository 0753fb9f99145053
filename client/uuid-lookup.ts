/**
 * `uuid-lookup`: turns uuids back into the identifiers they stand for, for users authorised to read the
 * UUID table. The identifiers go to `out` (stdout) only, one `uuid<TAB>id` line each, in the order asked;
 * they are never logged. What is returned holds counts and unknown uuids, which are safe to report.
 */
import type { UuidTable } from '../activities/deid/uuid-table';
import { BadInputError } from '../activities/errors';

export interface UuidLookupResult {
  found: number;
  /** Uuids the table does not hold, in the order asked. */
  unknown: string[];
}

export async function uuidLookup(table: UuidTable, uuids: string[], out: (line: string) => void): Promise<UuidLookupResult> {
  const asked = [...new Set(uuids.map((uuid) => uuid.trim()).filter((uuid) => uuid.length > 0))];
  if (asked.length === 0) throw new BadInputError('uuid-lookup: no uuids given');
  const ids = await table.uuidsToData(asked);
  const unknown: string[] = [];
  for (const uuid of asked) {
    const id = ids.get(uuid);
    if (id === undefined) unknown.push(uuid);
    else out(`${uuid}\t${id}`);
  }
  return { found: asked.length - unknown.length, unknown };
}

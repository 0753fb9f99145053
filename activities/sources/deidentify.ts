/**
 * Turns the identities sources give (URNs, phone numbers, Facebook ids) into UUID-table uuids, a page at a
 * time, before anything is written. Raw ids live only in memory for the duration of one page.
 */
import { normaliseFacebookId, normalisePhoneNumber } from '../deid/normalise';
import type { Deidentifier } from '../deid/uuid-table';
import { BadInputError } from '../errors';
import type { BlobReader } from '../storage/blob-store';

/**
 * The normal form of a contact URN, or a reason it has none. `whatsapp:` numbers are phone numbers;
 * anonymised workspaces send `tel:********`, which identifies no one.
 */
export function normaliseUrn(urn: string): { id: string } | { problem: string } {
  const scheme = urn.slice(0, urn.indexOf(':')).toLowerCase();
  const path = urn.slice(urn.indexOf(':') + 1);
  try {
    if (scheme === 'tel' || scheme === 'whatsapp') return { id: normalisePhoneNumber(path) };
    if (scheme === 'facebook') return { id: normaliseFacebookId(path) };
  } catch (err) {
    if (err instanceof BadInputError) return { problem: `${scheme} URN: ${err.message}` };
    throw err;
  }
  return { problem: scheme ? `URN scheme "${scheme}" is not de-identified by this pipeline` : 'not a URN' };
}

/** uuids of normalised ids: the distinct ones, through the attempt's cache of the UUID table. */
export async function uuidsFor(deidentifier: Deidentifier, ids: Iterable<string>): Promise<Map<string, string>> {
  const distinct = [...new Set(ids)];
  if (distinct.length === 0) return new Map();
  const uuids = await deidentifier.deidentify(distinct);
  return new Map(distinct.map((id, index) => [id, uuids[index]!]));
}

/** A token file's text, trimmed; a missing file is bad input naming the source (not the token). */
export async function readToken(blobs: BlobReader, uri: string, source: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await blobs.getBytes(uri);
  } catch (err) {
    if (err instanceof BadInputError) throw new BadInputError(`${source}: token file ${uri} cannot be read (${err.message})`);
    throw err;
  }
  const token = bytes.toString('utf8').trim();
  if (!token || /\s/.test(token)) throw new BadInputError(`${source}: token file ${uri} must hold one token`);
  return token;
}

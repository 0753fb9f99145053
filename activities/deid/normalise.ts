/**
 * Normal forms of the identifiers the UUID table maps, so one person gets one uuid whichever way a
 * source wrote their number. Written here because branch `deid` had not provided them yet; the same
 * names and behaviour are expected from it.
 */
import { BadInputError } from '../errors';

/**
 * A phone number (or a `tel:` URN) as a `tel:+<E.164 digits>` URN. Separators and a leading `00` are
 * removed; numbers must already carry their country code (sources here store international numbers),
 * since guessing a country would map one person to two uuids.
 */
export function normalisePhoneNumber(raw: string): string {
  let text = raw.trim();
  if (text.toLowerCase().startsWith('tel:')) text = text.slice(4);
  text = text.replace(/[\s().\-\/]/g, '');
  if (text.startsWith('00')) text = `+${text.slice(2)}`;
  if (!text.startsWith('+')) text = `+${text}`;
  // E.164: at most 15 digits, no leading zero in the country code; 7 is a practical lower bound.
  if (!/^\+[1-9]\d{6,14}$/.test(text)) throw new BadInputError('not a phone number in international (E.164) form');
  return `tel:${text}`;
}

/** A Facebook app-scoped user id as a `facebook:<id>` URN. */
export function normaliseFacebookId(raw: string): string {
  const text = raw.trim().replace(/^facebook:/i, '');
  if (!/^\d{1,30}$/.test(text)) throw new BadInputError('not a Facebook app-scoped id (digits)');
  return `facebook:${text}`;
}

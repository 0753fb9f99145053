/**
 * The identifiers the sources de-identify, in the form the UUID table keys them by: phone numbers as
 * `tel:+<E.164>` URNs, Facebook app-scoped ids as `facebook:<id>`. The rules live in uuid-table.ts.
 */
import { normalisePhoneNumber as toE164, toTelUrn } from './uuid-table';

export { normaliseFacebookId } from './uuid-table';

/**
 * A phone number or `tel:` URN. Sources store international numbers, sometimes without their `+`: a
 * number with neither `+` nor `00` is read as carrying its country code.
 */
export function normalisePhoneNumber(raw: string): string {
  const number = raw.trim().replace(/^tel:/i, '');
  const international = /^[+]|^00/.test(number) ? number : `+${number}`;
  return toTelUrn(toE164(international));
}

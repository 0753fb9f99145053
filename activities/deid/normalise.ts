/**
 * The identifiers the sources de-identify, in the form the UUID table keys them by: phone numbers as
 * `tel:+<E.164>` URNs, Facebook app-scoped ids as `facebook:<id>`. The rules live in uuid-table.ts.
 */
import { normalisePhoneNumber as toE164, toTelUrn } from './uuid-table';

export { normaliseFacebookId } from './uuid-table';

/** A phone number or `tel:` URN, in international form (sources store numbers with their country code). */
export function normalisePhoneNumber(raw: string): string {
  return toTelUrn(toE164(raw));
}

/**
 * Whether a Coda message, as a file or a Coda document holds it, is one we can use: Coda's layout, a text,
 * MessageID = SHA-256 of the text, and labels naming schemes and codes the dataset has. What fails is
 * written to a rejects file with the reason, never dropped silently.
 */
import { createHash } from 'node:crypto';

import { formatZodIssues } from '../../config/problems';
import { type CodaMessage, codaMessageSchema } from './coda-message';

/** Each scheme's CodeIDs, by SchemeID. */
export type SchemeCodes = ReadonlyMap<string, ReadonlySet<string>>;

export function schemeCodesOf(schemes: Iterable<{ SchemeID?: unknown; Codes?: unknown }>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const scheme of schemes) {
    if (typeof scheme.SchemeID !== 'string' || !Array.isArray(scheme.Codes)) continue;
    const codes = out.get(scheme.SchemeID) ?? new Set<string>();
    for (const code of scheme.Codes as Array<{ CodeID?: unknown }>) if (typeof code?.CodeID === 'string') codes.add(code.CodeID);
    out.set(scheme.SchemeID, codes);
  }
  return out;
}

export const sha256Hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

export type MessageCheck = { ok: true; message: CodaMessage } | { ok: false; reason: string };

/** `documentId`: the Firestore document id the message was read from, which must be its MessageID. */
export function checkCodaMessage(raw: unknown, schemes: SchemeCodes, documentId?: string): MessageCheck {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, reason: 'not a Coda message (expected an object)' };
  const text = (raw as { Text?: unknown }).Text;
  if (text === undefined || text === null || (typeof text === 'string' && text.trim() === '')) return { ok: false, reason: 'message without text' };
  const parsed = codaMessageSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, reason: `does not match the Coda message layout: ${formatZodIssues(parsed.error).slice(0, 3).join('; ')}` };
  const message = parsed.data;
  if (documentId !== undefined && documentId !== message.MessageID) return { ok: false, reason: 'document id differs from its MessageID' };
  if (sha256Hex(message.Text) !== message.MessageID) return { ok: false, reason: 'MessageID is not the SHA-256 of Text' };
  for (const [index, label] of message.Labels.entries()) {
    const codes = schemes.get(label.SchemeID);
    if (!codes) return { ok: false, reason: `Labels[${index}] names unknown code scheme ${JSON.stringify(label.SchemeID)}` };
    if (!codes.has(label.CodeID)) return { ok: false, reason: `Labels[${index}] names unknown code ${JSON.stringify(label.CodeID)} of scheme ${JSON.stringify(label.SchemeID)}` };
  }
  return { ok: true, message };
}

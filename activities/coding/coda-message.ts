/**
 * CodaV2 messages and labels, as Coda stores them in `datasets/{segment}/messages/{MessageID}` and as the
 * AVF tools read and write them (CoreDataModules' Message/Label/Origin maps). Workflow-safe (zod only).
 *
 * - `MessageID` is the SHA-256 (hex) of the text, so identical texts are one message.
 * - `Labels[0]` is the newest label; a scheme's current code is its first label in the list.
 * - `LastUpdated` is a server timestamp in Firestore; here it travels as an ISO string with microseconds.
 */
import { z } from 'zod';

export const originSchema = z.looseObject({
  OriginID: z.string().min(1),
  Name: z.string().min(1),
  OriginType: z.string().min(1),
  Metadata: z.record(z.string(), z.string()).optional(),
});

export const labelSchema = z.looseObject({
  SchemeID: z.string().min(1),
  CodeID: z.string().min(1),
  DateTimeUTC: z.string().min(1),
  Checked: z.boolean().optional(),
  Confidence: z.number().min(0).max(1).optional(),
  LabelSet: z.int().optional(),
  Origin: originSchema,
});

export const codaMessageSchema = z.looseObject({
  MessageID: z.string().regex(/^[0-9a-f]{64}$/, 'the SHA-256 (hex) of the text'),
  Text: z.string(),
  CreationDateTimeUTC: z.string().min(1),
  Labels: z.array(labelSchema),
  SequenceNumber: z.int().min(0).optional(),
  LastUpdated: z.string().optional(),
});

export type Origin = z.output<typeof originSchema>;
export type Label = z.output<typeof labelSchema>;
export type CodaMessage = z.output<typeof codaMessageSchema>;

/** The newest label of each scheme (Labels[0] first wins), in first-seen order. */
export function latestLabels(message: Pick<CodaMessage, 'Labels'>): Label[] {
  const seen = new Set<string>();
  const latest: Label[] = [];
  for (const label of message.Labels) {
    if (seen.has(label.SchemeID)) continue;
    seen.add(label.SchemeID);
    latest.push(label);
  }
  return latest;
}

/** The Origin of labels this pipeline attaches automatically. */
export function pipelineOrigin(pipelineName: string, runId: string): Origin {
  return { OriginID: `pipeline:${pipelineName}`, Name: pipelineName, OriginType: 'Automatic', Metadata: { RunID: runId } };
}

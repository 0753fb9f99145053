/**
 * The demo's coder: what a person does in Coda between two weekly runs, done by a script so the demo's
 * second run has coded data to pull. It reads the messages the first run pushed to the local Coda store
 * and labels most activation messages by theme (Checked, with a person's Origin), marks a request to stop
 * as STOP (consent withdrawn: everyone who sent it leaves the outputs), and confirms the pipeline's
 * automatic gender labels. Not a pipeline stage.
 */
import type { CodaStore } from '../activities/coding/coda-store';
import type { CodingPlan } from '../activities/coding/coding-plan';
import type { DatasetCodeSchemes } from '../activities/coding/plan-code-schemes';

const CODER = { OriginID: 'coder@example.org', Name: 'coder@example.org', OriginType: 'Manual' };

/** The theme a coder would give a text of the demo's radio show, by its words. */
function themeOf(text: string): string | undefined {
  const words = text.toLowerCase();
  for (const theme of ['water', 'peace', 'yes', 'no', 'maybe']) if (new RegExp(`\\b${theme}\\b`).test(words)) return theme;
  return undefined;
}

interface StoredMessage {
  MessageID: string;
  SequenceNumber: number;
  Text: string;
  Labels: Array<{ SchemeID: string; CodeID: string; Checked?: boolean }>;
}

export interface CodingSession {
  labelled: number;
  stopped: number;
  confirmed: number;
}

/** Labels the messages of the plan's datasets as a coder would; `share` of the activation messages (in sequence order). */
export async function codeLikeAPerson(store: CodaStore, plan: CodingPlan, schemes: readonly DatasetCodeSchemes[], now: Date, share = 0.6): Promise<CodingSession> {
  const session: CodingSession = { labelled: 0, stopped: 0, confirmed: 0 };
  const at = now.toISOString();
  for (const [index, dataset] of plan.datasets.entries()) {
    const scheme = schemes[index]!.schemes[0]!;
    const segments = await store.readMessages(dataset.codaDatasetId, new Map());
    const messages = segments
      .flatMap((segment) => segment.documents.map((document) => ({ segmentId: segment.segmentId, ...(document.data as unknown as StoredMessage) })))
      .sort((a, b) => a.SequenceNumber - b.SequenceNumber);
    const updates: Array<{ messageId: string; segmentId: string; label: Record<string, unknown> }> = [];
    const label = (codeId: string) => ({ SchemeID: scheme.SchemeID, CodeID: codeId, DateTimeUTC: at, Checked: true, Origin: CODER });
    if (dataset.kind === 'activation') {
      const stops = messages.filter((message) => /\bstop sending\b/i.test(message.Text));
      const rest = messages.filter((message) => !stops.includes(message));
      for (const message of [...stops, ...rest.slice(0, Math.ceil(rest.length * share))]) {
        const theme = themeOf(message.Text);
        const stop = stops.includes(message);
        const code = stop ? scheme.Codes.find((c) => c.ControlCode === 'STOP') : theme ? scheme.Codes.find((c) => c.StringValue === theme) : scheme.Codes.find((c) => c.ControlCode === 'NC');
        if (!code) continue;
        if (stop) session.stopped += 1;
        updates.push({ messageId: message.MessageID, segmentId: message.segmentId, label: label(code.CodeID) });
      }
      session.labelled += updates.length;
    } else {
      // Survey answers came with the pipeline's automatic labels (MatchValues): a coder confirms them.
      for (const message of messages) {
        const automatic = message.Labels.find((candidate) => candidate.SchemeID === scheme.SchemeID);
        if (automatic && automatic.Checked !== true) {
          updates.push({ messageId: message.MessageID, segmentId: message.segmentId, label: label(automatic.CodeID) });
          session.confirmed += 1;
        }
      }
    }
    await store.labelMessages(dataset.codaDatasetId, updates);
  }
  return session;
}

/**
 * The coded data coda-get brought back: which file holds each dataset's coded messages, and what each
 * message's current labels say (CoreDataModules' reading: Labels[0] is the newest; a scheme's current
 * label is its first; an unchecked label, or one a coder cleared with `SPECIAL-MANUALLY_UNCODED`, is not
 * reviewed). Documents or labels that do not fit the layout or the plan are rejected, not dropped.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { type CodaMessage, codaMessageSchema } from '../coding/coda-message';
import type { Code } from '../coding/code-scheme';
import { BadInputError } from '../errors';
import { DATA_ROOT_LAYERS } from '../runs/data-root';
import type { StageOutputs } from '../runs/types';
import { digestFile, sha256Hex } from '../storage/hashing';
import type { PlanDataset } from './plan-schemes';

/** The CodeID Coda gives a label when a coder removes a code. */
export const MANUALLY_UNCODED = 'SPECIAL-MANUALLY_UNCODED';
/** coda-get writes this beside a complete export (`coded/<run id>/`). */
export const EXPORT_STATE_FILE = 'export-state.json';

export interface CodedFile {
  path: string;
  uri: string;
  /** Relative to the data root, for rejects and the summary. */
  name: string;
  sha256: string;
}

export interface CodedMessage {
  /** Per scheme of the dataset, in plan order: the current code when a coder checked it, else undefined (not reviewed). */
  reviewed: Array<Code | undefined>;
  /** The message has labels in Coda: they, not the auto-labels, decide whether it is noise. */
  labelled: boolean;
  /** A current label (checked or not) is a noise control code. */
  noise: boolean;
  /** A current, checked label is STOP: the participant withdrew consent. */
  stop: boolean;
}

/** Why a coded document or label is refused; each reject names one, with details beside it. */
export const REJECT_REASONS = {
  layout: 'coded message does not match the Coda layout',
  messageId: 'coded message\'s MessageID is not the SHA-256 of its text',
  repeated: 'coded message repeats an earlier MessageID',
  unknownScheme: 'label names a scheme that is not one of the dataset\'s code schemes',
  unknownCode: 'label names a code that is not in its scheme',
} as const;

export interface Reject {
  reason: string;
  [key: string]: unknown;
}

/**
 * Each dataset's coded file: coda-get's output in this run, or else the newest complete export of an
 * earlier run (`coded/<run id>/` with export-state.json, run id before this run's); undefined when coding
 * has not started.
 */
export async function locateCodedFiles(dataRoot: string, runId: string, upstream: Partial<Record<string, StageOutputs>>, datasets: readonly PlanDataset[]): Promise<Array<CodedFile | undefined>> {
  const fromStage = upstream['coda-get'];
  let earlierExports: string[] = [];
  if (!fromStage) {
    const codedRoot = join(dataRoot, DATA_ROOT_LAYERS.coded);
    const folders = existsSync(codedRoot) ? await readdir(codedRoot, { withFileTypes: true }) : [];
    earlierExports = folders
      .filter((entry) => entry.isDirectory() && entry.name < runId && existsSync(join(codedRoot, entry.name, EXPORT_STATE_FILE)))
      .map((entry) => join(codedRoot, entry.name))
      .sort()
      .reverse();
  }
  return Promise.all(
    datasets.map(async ({ dataset }) => {
      let path: string | undefined;
      if (fromStage) {
        const ref = fromStage[`coded/${dataset.name}`];
        path = ref ? fileURLToPath(ref.uri) : undefined;
      } else {
        path = earlierExports.map((folder) => join(folder, `${dataset.name}.json`)).find((candidate) => existsSync(candidate));
      }
      if (!path) return undefined;
      if (!existsSync(path)) throw new BadInputError(`upstream: coda-get's coded/${dataset.name} (${relative(dataRoot, path)}) does not exist`);
      return { path, uri: pathToFileURL(path).href, name: relative(dataRoot, path), sha256: (await digestFile(path)).sha256 };
    }),
  );
}

function issuesText(error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> }): string {
  return error.issues.map((issue) => `${issue.path.length ? `${issue.path.map(String).join('.')}: ` : ''}${issue.message}`).join('; ');
}

/**
 * The coded messages of one dataset by MessageID. A file that is not a JSON array is bad input; a
 * document that does not match the message layout, whose MessageID is not its text's SHA-256 or repeats
 * an earlier one, and a label naming a scheme or code the plan does not have, are rejected.
 */
export interface CodedDataset {
  messages: Map<string, CodedMessage>;
  /** Texts of the messages whose current, checked label is STOP: who sent one withdrew consent. */
  stopTexts: Set<string>;
}

export async function loadCodedMessages(file: CodedFile, planDataset: PlanDataset, noiseControlCodes: ReadonlySet<string>, reject: (record: Reject) => void): Promise<CodedDataset> {
  let documents: unknown;
  try {
    documents = JSON.parse(await readFile(file.path, 'utf8'));
  } catch (err) {
    throw new BadInputError(`${file.name}: not JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(documents)) throw new BadInputError(`${file.name}: expected a JSON array of Coda messages`);
  const dataset = planDataset.dataset.name;
  const schemeIndex = new Map(planDataset.schemes.map((scheme, index) => [scheme.scheme.SchemeID, index]));
  const messages = new Map<string, CodedMessage>();
  const stopTexts = new Set<string>();
  const firstIndex = new Map<string, number>();
  documents.forEach((document: unknown, index) => {
    const at = { dataset, file: file.name, index };
    const parsed = codaMessageSchema.safeParse(document);
    if (!parsed.success) {
      const id = (document as { MessageID?: unknown } | null)?.MessageID;
      reject({ reason: REJECT_REASONS.layout, detail: issuesText(parsed.error), ...at, ...(typeof id === 'string' ? { message_id: id } : {}) });
      return;
    }
    const message: CodaMessage = parsed.data;
    if (message.MessageID !== sha256Hex(message.Text)) {
      reject({ reason: REJECT_REASONS.messageId, ...at, message_id: message.MessageID });
      return;
    }
    const earlier = firstIndex.get(message.MessageID);
    if (earlier !== undefined) {
      reject({ reason: REJECT_REASONS.repeated, ...at, message_id: message.MessageID, first_index: earlier });
      return;
    }
    firstIndex.set(message.MessageID, index);
    const coded: CodedMessage = { reviewed: planDataset.schemes.map(() => undefined), labelled: message.Labels.length > 0, noise: false, stop: false };
    const current = new Set<number>();
    message.Labels.forEach((label, labelIndex) => {
      const labelAt = { ...at, message_id: message.MessageID, label_index: labelIndex, scheme_id: label.SchemeID, code_id: label.CodeID };
      const s = schemeIndex.get(label.SchemeID);
      if (s === undefined) {
        reject({ reason: REJECT_REASONS.unknownScheme, ...labelAt });
        return;
      }
      const plan = planDataset.schemes[s]!;
      const code = label.CodeID === MANUALLY_UNCODED ? null : plan.codes.get(label.CodeID);
      if (code === undefined) reject({ reason: REJECT_REASONS.unknownCode, ...labelAt, scheme_file: plan.file });
      if (current.has(s)) return; // an older label of a scheme already decided
      current.add(s);
      if (!code) return; // cleared by a coder, or unknown: not reviewed
      if (code.CodeType === 'Control' && noiseControlCodes.has(code.ControlCode!)) coded.noise = true;
      if (label.Checked !== true) return;
      coded.reviewed[s] = code;
      if (code.CodeType === 'Control' && code.ControlCode === 'STOP') coded.stop = true;
    });
    messages.set(message.MessageID, coded);
    if (coded.stop) stopTexts.add(message.Text);
  });
  return { messages, stopTexts };
}

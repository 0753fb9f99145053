/**
 * The texts Temporal keeps readable for everyone who can list runs: workflow and activity summaries and
 * a run's static details. They must never carry free text from a config (a description may hold
 * anything), so the payload codec leaves a string plain only when it has one of the shapes below, built
 * from names, stage lists, run ids and counts; any other string is encrypted like every payload.
 */

/** Pipeline and stage names (`[a-z0-9-]`, as the config schema allows). */
const NAME = String.raw`[a-z0-9][a-z0-9-]{0,62}`;
/** Run ids, schedule ids and series names. */
const ID = String.raw`[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}`;
/** A data root: a relative or absolute path made of plain name characters. */
const PATH = String.raw`/?[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*/?`;
const STAGES = String.raw`${NAME}(?: → ${NAME})*`;
const COUNT = String.raw`\d{1,6}`;

/** Summaries of the run's bookkeeping activities (workflows/pipeline-run.ts). */
const FIXED_SUMMARIES = new Set([
  'validate the config, create the data root layers and the run manifest',
  'save the run manifest',
  'load the manifest of the run resumed from',
  "validate an operator's corrected stage config",
]);

const SUMMARY_SHAPES = [
  // A run's static summary (client/pipeline-client.ts, client/schedules.ts).
  `Pipeline ${NAME}, run ${ID}: ${STAGES}(?: \\(resumed from ${ID} at ${NAME}\\))?`,
  `Pipeline ${NAME}, scheduled by ${ID}: ${STAGES}`,
  // A stage's activity or child workflow (activities/registry.ts, workflows/pre-registry.ts).
  `${NAME} \\(stage ${COUNT} of ${COUNT}\\) of ${NAME}`,
  // A series' activities (activities/synth/generate-series.workflow.ts).
  `plan series ${ID}`,
  `period ${COUNT} of ${COUNT} of series ${ID}`,
].map((shape) => new RegExp(`^${shape}$`));

/** The lines a run's static details may have (client/pipeline-client.ts). */
const DETAIL_LINE_SHAPES = [
  `\\*\\*Pipeline:\\*\\* ${NAME}`,
  `\\*\\*Run id:\\*\\* ${ID}`,
  `\\*\\*Data root:\\*\\* ${PATH}`,
  `\\*\\*Stages:\\*\\* ${STAGES}`,
  `\\*\\*Overwrite:\\*\\* yes, completed stages are redone`,
  `\\*\\*Resumed from:\\*\\* run ${ID}, stage ${NAME}`,
].map((shape) => new RegExp(`^${shape}$`));

const MAX_PLAIN_TEXT_LENGTH = 4096;

/** True when `text` is a summary or details text that may be stored in clear. */
export function isPlainUiText(text: string): boolean {
  if (text.length === 0 || text.length > MAX_PLAIN_TEXT_LENGTH) return false;
  if (FIXED_SUMMARIES.has(text) || SUMMARY_SHAPES.some((shape) => shape.test(text))) return true;
  return text.split('\n').every((line) => DETAIL_LINE_SHAPES.some((shape) => shape.test(line)));
}

/**
 * The coding plan's code schemes, read from the data root and validated, with the look-ups the outputs
 * need: a code by id, the value written for a control code, and each scheme's 0/1 columns.
 */
import { readFile } from 'node:fs/promises';

import { type Code, type CodeScheme, codeSchemeSchema, type ControlCode } from '../coding/code-scheme';
import type { CodingDataset, CodingPlan } from '../coding/coding-plan';
import { BadInputError } from '../errors';
import { dataRootFile } from '../runs/data-root';
import { sha256Hex } from '../storage/hashing';

/** Codes the outputs write without a coder: not reviewed, and (in individuals.csv) no message at all. */
export const NOT_REVIEWED: ControlCode = 'NR';
export const TRUE_MISSING: ControlCode = 'NA';

export interface PlanScheme {
  /** `coding.datasets[i].codeSchemes[j].file`, for error messages. */
  field: string;
  file: string;
  column: string;
  scheme: CodeScheme;
  codes: ReadonlyMap<string, Code>;
  /** What messages.csv shows for a control code: the scheme's StringValue for it, or the control code itself. */
  controlValue(control: ControlCode): string;
  /** individuals.csv's values of this scheme, in the scheme's order, plus NR and NA when the scheme has no such code. */
  matrixValues: readonly string[];
  /** The sha256 of the scheme file, for the stage's inputs hash. */
  sha256: string;
}

export interface PlanDataset {
  index: number;
  dataset: CodingDataset;
  schemes: PlanScheme[];
}

function issuesText(error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> }): string {
  return error.issues.map((issue) => `${issue.path.length ? `${issue.path.map(String).join('.')}: ` : ''}${issue.message}`).join('; ');
}

async function readScheme(dataRoot: string, file: string, field: string): Promise<{ scheme: CodeScheme; sha256: string }> {
  let text: string;
  try {
    text = await readFile(dataRootFile(dataRoot, file, field), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BadInputError(`${field}: ${file} does not exist in the data root`);
    throw err;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BadInputError(`${field}: ${file} is not JSON: ${(err as Error).message}`);
  }
  const parsed = codeSchemeSchema.safeParse(value);
  if (!parsed.success) throw new BadInputError(`${field}: ${file} is not a CodaV2 code scheme: ${issuesText(parsed.error)}`);
  return { scheme: parsed.data, sha256: sha256Hex(text) };
}

function planScheme(file: string, field: string, column: string, scheme: CodeScheme, sha256: string): PlanScheme {
  const codes = new Map(scheme.Codes.map((code) => [code.CodeID, code]));
  const controlValue = (control: ControlCode): string => scheme.Codes.find((code) => code.CodeType === 'Control' && code.ControlCode === control)?.StringValue ?? control;
  const matrixValues = scheme.Codes.map((code) => code.StringValue);
  for (const control of [NOT_REVIEWED, TRUE_MISSING]) if (!matrixValues.includes(controlValue(control))) matrixValues.push(controlValue(control));
  return { field, file, column, scheme, codes, controlValue, matrixValues, sha256 };
}

/**
 * Reads every dataset's code schemes. A missing, unparseable or invalid file, a scheme listed twice in one
 * dataset, or a noise rule whose control code an activation dataset's scheme lacks, is bad input naming
 * the config field.
 */
export async function loadPlanSchemes(dataRoot: string, plan: CodingPlan): Promise<PlanDataset[]> {
  const datasets: PlanDataset[] = [];
  for (const [index, dataset] of plan.datasets.entries()) {
    const schemes: PlanScheme[] = [];
    for (const [schemeIndex, ref] of dataset.codeSchemes.entries()) {
      const field = `coding.datasets[${index}].codeSchemes[${schemeIndex}].file`;
      const { scheme, sha256 } = await readScheme(dataRoot, ref.file, field);
      const twice = schemes.find((earlier) => earlier.scheme.SchemeID === scheme.SchemeID);
      if (twice) throw new BadInputError(`${field}: ${ref.file} has SchemeID ${scheme.SchemeID}, as ${twice.field} has; a dataset lists each scheme once`);
      if (dataset.kind === 'activation' && plan.noise && !scheme.Codes.some((code) => code.CodeType === 'Control' && code.ControlCode === plan.noise!.controlCode)) {
        throw new BadInputError(`${field}: ${ref.file} has no Control code ${plan.noise.controlCode}, which coding.noise.controlCode labels noise with`);
      }
      schemes.push(planScheme(ref.file, field, ref.column, scheme, sha256));
    }
    datasets.push({ index, dataset, schemes });
  }
  return datasets;
}

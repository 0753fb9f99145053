/** The code scheme files a coding plan names, read and validated; every problem named by its config path. */
import { formatZodIssues } from '../../config/problems';
import { BadInputError } from '../errors';
import { dataRootFile } from '../runs/data-root';
import { digestBuffer } from '../storage/hashing';
import { readTextFile, StructuredFileError } from '../storage/structured-file';
import { type CodeScheme, codeSchemeSchema } from './code-scheme';
import type { CodingPlan } from './coding-plan';

export interface DatasetCodeSchemes {
  /** The dataset's schemes, in the plan's order. */
  schemes: CodeScheme[];
  /** sha256 of each file, for inputs hashes. */
  digests: string[];
}

/** The run's coding plan, which the stages that declare `usesCodingPlan` receive with their request. */
export function codingPlanOf(request: { coding?: CodingPlan; stage: { stage: string } }): CodingPlan {
  if (!request.coding) throw new BadInputError(`${request.stage.stage} needs the run config's coding section (datasets, code schemes, store)`);
  return request.coding;
}

/** Every dataset's code schemes; all problems of all files in one BadInputError. */
export async function loadPlanCodeSchemes(dataRoot: string, plan: CodingPlan): Promise<DatasetCodeSchemes[]> {
  const problems: string[] = [];
  const loaded = await Promise.all(
    plan.datasets.map(async (dataset, datasetIndex) => {
      const schemes: CodeScheme[] = [];
      const digests: string[] = [];
      await Promise.all(
        dataset.codeSchemes.map(async (ref, schemeIndex) => {
          const field = `coding.datasets[${datasetIndex}].codeSchemes[${schemeIndex}].file`;
          let text: string;
          try {
            const path = dataRootFile(dataRoot, ref.file, field);
            text = await readTextFile(path).catch((err: unknown) => {
              // Why it cannot be read (missing, not UTF-8, too big), with the file as the config names it.
              if (err instanceof StructuredFileError) throw new BadInputError(`${field}: ${err.message.replace('(file): ', '').replaceAll(path, ref.file)}`);
              throw err;
            });
          } catch (err) {
            if (!(err instanceof BadInputError)) throw err;
            problems.push(err.message);
            return;
          }
          let document: unknown;
          try {
            document = JSON.parse(text);
          } catch (err) {
            problems.push(`${field}: ${ref.file} is not JSON: ${(err as Error).message}`);
            return;
          }
          const parsed = codeSchemeSchema.safeParse(document);
          if (!parsed.success) {
            for (const issue of formatZodIssues(parsed.error)) problems.push(`${field}: ${ref.file}: ${issue}`);
            return;
          }
          schemes[schemeIndex] = parsed.data;
          digests[schemeIndex] = digestBuffer(Buffer.from(text)).sha256;
        }),
      );
      const ids = new Map<string, number>();
      schemes.forEach((scheme, schemeIndex) => {
        const first = ids.get(scheme.SchemeID);
        if (first !== undefined) problems.push(`coding.datasets[${datasetIndex}].codeSchemes[${schemeIndex}].file: SchemeID "${scheme.SchemeID}" repeats codeSchemes[${first}]`);
        else ids.set(scheme.SchemeID, schemeIndex);
      });
      return { schemes, digests };
    }),
  );
  if (problems.length > 0) throw new BadInputError(`invalid code schemes:\n  ${problems.sort().join('\n  ')}`);
  return loaded;
}

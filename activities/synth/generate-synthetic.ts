/**
 * generate-synthetic: generates every table of a spec file in the data root as CSV/TSV under
 * synth/<spec name>/<run id>/, with the effective spec (after import) beside them as spec.json, and
 * optionally uploads them to a bucket folder.
 */
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

import { BadInputError } from '../errors';
import { DATA_ROOT_LAYERS } from '../runs/data-root';
import type { StageConfigFor } from '../runs/stage-definition';
import type { StageImplementation } from '../runs/stage-runner';
import type { StageOutputs } from '../runs/types';
import { writeFileAtomic } from '../storage/atomic-write';
import { objectUri } from '../storage/blob-store';
import { sha256Hex } from '../storage/hashing';
import { uploadFileOnce } from '../storage/upload-once';
import { writeTableFile } from './generate';
import type { generateSyntheticStage } from './generate-synthetic.stage';
import { loadSynthSpec } from './load-spec';
import { SpecError } from './spec';

type GenerateConfig = StageConfigFor<typeof generateSyntheticStage>;

function specPath(dataRoot: string, spec: string): string {
  const path = join(dataRoot, spec);
  if (relative(dataRoot, path).startsWith('..')) throw new BadInputError(`spec: ${spec} is outside the data root`);
  return path;
}

async function loadForStage(dataRoot: string, stage: GenerateConfig) {
  try {
    const loaded = await loadSynthSpec(specPath(dataRoot, stage.spec), stage.specFormat);
    return { ...loaded, spec: stage.seed === undefined ? loaded.spec : { ...loaded.spec, seed: stage.seed } };
  } catch (err) {
    if (err instanceof SpecError) throw new BadInputError(err.message);
    throw err;
  }
}

export const generateSyntheticImplementation: StageImplementation<typeof generateSyntheticStage> = {
  version: 1,
  async preflight({ dataRoot, stage }) {
    await loadForStage(dataRoot, stage);
  },
  async inputs({ dataRoot, request }) {
    const { text } = await loadForStage(dataRoot, request.stage);
    return { specSha256: sha256Hex(text), stage: request.stage, ...(request.stage.datestampLine ? { runId: request.runId } : {}) };
  },
  async run({ dataRoot, request, blobStore, logger, now, reportProgress }) {
    const { spec, warnings } = await loadForStage(dataRoot, request.stage);
    const folder = join(dataRoot, DATA_ROOT_LAYERS.synth, spec.name, request.runId);
    const extension = request.stage.format;
    const outputs: StageOutputs = {};
    // Seed 000's datestamp line, from the clock the worker was given (tests pin it).
    const commentLine = request.stage.datestampLine ? JSON.stringify({ 'Date generated': now().toISOString() }) : undefined;
    const specFile = join(folder, 'spec.json');
    await writeFileAtomic(specFile, `${JSON.stringify(spec, null, 2)}\n`);
    const files: Array<[string, string]> = [['spec', specFile]];
    for (const table of spec.tables) {
      const path = join(folder, `${table.name}.${extension}`);
      const written = await writeTableFile(spec, table.name, path, {
        format: request.stage.format,
        ...(commentLine ? { commentLine } : {}),
        onProgress: (bytes) => reportProgress({ table: table.name, bytes }),
      });
      logger.info({ event: 'GeneratingOutputs', table: table.name, rows: table.rows, bytes: written.bytes, path }, 'table generated');
      outputs[table.name] = { uri: pathToFileURL(path).href, bytes: written.bytes, sha256: written.sha256, md5: written.md5 };
      files.push([table.name, path]);
    }
    outputs.spec = { uri: pathToFileURL(specFile).href };
    if (warnings.length > 0) {
      // What the importer had to make of the spec (rescaled probabilities, approximations), beside the data it shaped.
      const warningsFile = join(folder, 'warnings.json');
      await writeFileAtomic(warningsFile, `${JSON.stringify(warnings, null, 2)}\n`);
      outputs.warnings = { uri: pathToFileURL(warningsFile).href };
      logger.warn({ event: 'SpecWarnings', count: warnings.length }, 'the spec was imported with warnings');
    }
    if (request.stage.destination) {
      for (const [key, path] of files) {
        const uri = objectUri(request.stage.destination, `${spec.name}/${request.runId}/${relative(folder, path)}`);
        const uploaded = await uploadFileOnce(blobStore, { localPath: path, contentType: key === 'spec' ? 'application/json' : 'text/csv' }, uri);
        outputs[`${key}.uploaded`] = { uri: uploaded.uri, bytes: uploaded.bytes, md5: uploaded.md5 };
      }
    }
    return outputs;
  },
};

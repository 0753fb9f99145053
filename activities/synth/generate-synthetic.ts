/**
 * generate-synthetic: generates every table of a spec file in the data root as CSV/TSV under
 * synth/<spec name>/<run id>/, with the effective spec (after import) beside them as spec.json, and
 * optionally uploads them to a bucket folder.
 */
import { existsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

import { BadInputError } from '../errors';
import { DATA_ROOT_LAYERS, dataRootFile } from '../runs/data-root';
import type { StageConfigFor } from '../runs/stage-definition';
import type { StageImplementation } from '../runs/stage-runner';
import type { StageOutputs } from '../runs/types';
import { writeFileAtomic } from '../storage/atomic-write';
import { objectUri } from '../storage/blob-store';
import { sha256Hex } from '../storage/hashing';
import { uploadFileOnce } from '../storage/upload-once';
import { generateTableText, writeTableFile } from './generate';
import type { generateSyntheticStage } from './generate-synthetic.stage';
import { loadSynthSpec } from './load-spec';
import { SpecError } from './spec';

type GenerateConfig = StageConfigFor<typeof generateSyntheticStage>;

async function loadForStage(dataRoot: string, stage: GenerateConfig) {
  try {
    const loaded = await loadSynthSpec(dataRootFile(dataRoot, stage.spec, 'spec'), stage.specFormat);
    return { ...loaded, spec: stage.seed === undefined ? loaded.spec : { ...loaded.spec, seed: stage.seed } };
  } catch (err) {
    if (err instanceof SpecError) throw new BadInputError(err.message);
    throw err;
  }
}

/** Rows sampled to estimate a table's size. */
const SAMPLE_ROWS = 2000;

function totalRows(spec: { tables: ReadonlyArray<{ rows: number }> }): number {
  return spec.tables.reduce((sum, table) => sum + table.rows, 0);
}

function checkRows(spec: { tables: ReadonlyArray<{ rows: number }> }, stage: GenerateConfig): void {
  const rows = totalRows(spec);
  if (rows > stage.maxRows) throw new BadInputError(`maxRows: the spec's tables hold ${rows} rows, more than the limit of ${stage.maxRows} (raise maxRows to allow it)`);
}

/**
 * Size guards before anything is written: the estimated bytes (a sample of each table's rows, scaled)
 * against maxBytes, and against the free space of the disk the tables go to (with a 10 % margin).
 */
async function checkSize(spec: Parameters<typeof generateTableText>[0], stage: GenerateConfig, folder: string): Promise<number> {
  let estimate = 0;
  for (const table of spec.tables) {
    const sampled = Math.min(SAMPLE_ROWS, table.rows);
    const sample = sampled === 0 ? 0 : Buffer.byteLength(generateTableText(spec, table.name, { format: stage.format, end: sampled, header: false }));
    estimate += sampled === 0 ? 0 : Math.ceil((sample / sampled) * table.rows);
  }
  if (estimate > stage.maxBytes) throw new BadInputError(`maxBytes: the spec's tables would take about ${estimate} bytes, more than the limit of ${stage.maxBytes} (raise maxBytes to allow it)`);
  let existing = folder;
  while (!existsSync(existing)) existing = dirname(existing);
  const disk = await statfs(existing);
  const free = disk.bavail * disk.bsize;
  if (estimate * 1.1 > free) throw new BadInputError(`the spec's tables would take about ${estimate} bytes, and the disk of ${existing} has ${free} bytes free`);
  return estimate;
}

export const generateSyntheticImplementation: StageImplementation<typeof generateSyntheticStage> = {
  version: 1,
  async preflight({ dataRoot, stage }) {
    // Both size guards, so a spec too big for its limits (or for the disk) is refused before the run starts.
    const { spec } = await loadForStage(dataRoot, stage);
    checkRows(spec, stage);
    await checkSize(spec, stage, join(dataRoot, DATA_ROOT_LAYERS.synth));
  },
  async inputs({ dataRoot, request }) {
    const { text } = await loadForStage(dataRoot, request.stage);
    return { specSha256: sha256Hex(text), stage: request.stage, ...(request.stage.datestampLine ? { runId: request.runId } : {}) };
  },
  async run({ dataRoot, request, blobStore, logger, now, reportProgress, signal }) {
    const { spec, warnings } = await loadForStage(dataRoot, request.stage);
    const folder = join(dataRoot, DATA_ROOT_LAYERS.synth, spec.name, request.runId);
    checkRows(spec, request.stage);
    const estimatedBytes = await checkSize(spec, request.stage, folder);
    logger.info({ event: 'SizeChecked', rows: totalRows(spec), estimatedBytes }, 'size within the limits');
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
        signal,
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

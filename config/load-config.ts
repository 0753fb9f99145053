/** Reads a run config file (JSON or YAML) and validates it before anything is started or written. */
import { readStructuredFile, StructuredFileError } from '../activities/storage/structured-file';
import { ConfigError, parsePipelineConfig, type PipelineConfig } from './pipeline-config';

export async function loadPipelineConfig(path: string): Promise<PipelineConfig> {
  try {
    return parsePipelineConfig((await readStructuredFile(path)).document);
  } catch (err) {
    if (err instanceof StructuredFileError) throw new ConfigError([err.message]);
    throw err;
  }
}

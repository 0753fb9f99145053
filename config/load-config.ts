/** Reads a run config file (JSON or YAML) and validates it before anything is started or written. */
import { readStructuredFile, StructuredFileError } from '../activities/storage/structured-file';
import { ConfigError, parsePipelineConfig, type PipelineConfig } from './pipeline-config';

/** A run config names files; it never holds data. Bigger is refused before it is parsed. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

export async function loadPipelineConfig(path: string): Promise<PipelineConfig> {
  try {
    return parsePipelineConfig((await readStructuredFile(path, MAX_CONFIG_BYTES)).document);
  } catch (err) {
    if (err instanceof StructuredFileError) throw new ConfigError([err.message]);
    throw err;
  }
}

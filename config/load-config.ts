/** Reads a run config file (JSON or YAML) and validates it before anything is started or written. */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';

import { parse as parseYaml } from 'yaml';

import { ConfigError, parsePipelineConfig, type PipelineConfig } from './pipeline-config';

export async function loadPipelineConfig(path: string): Promise<PipelineConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`(file): cannot read ${path}: ${(err as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError([`(file): ${path} is not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message}`]);
  }
  return parsePipelineConfig(raw);
}

/** Reads a spec file (JSON or YAML) in any of the supported forms and validates it. */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { importExhibitSpec } from './importers/exhibit';
import { importSummaryStatistics } from './importers/summary-statistics';
import { parseSynthSpec, SpecError, type SynthSpec } from './spec';
import type { SpecFormat } from './synth-options';


/** exhibit specs have metadata and columns; summary statistics a Table_name; anything else is native. */
export function detectSpecFormat(document: unknown): Exclude<SpecFormat, 'auto'> {
  if (typeof document === 'object' && document !== null) {
    if ('metadata' in document && 'columns' in document) return 'exhibit';
    if ('Table_name' in document) return 'summary-statistics';
  }
  return 'native';
}

export function specFromDocument(document: unknown, format: SpecFormat = 'auto'): SynthSpec {
  const form = format === 'auto' ? detectSpecFormat(document) : format;
  if (form === 'exhibit') return importExhibitSpec(document);
  if (form === 'summary-statistics') return importSummaryStatistics(document);
  return parseSynthSpec(document);
}

export function parseSpecText(text: string, fileName: string): unknown {
  try {
    return extname(fileName).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new SpecError([`(file): ${fileName} cannot be parsed: ${(err as Error).message}`]);
  }
}

export async function loadSynthSpec(path: string, format: SpecFormat = 'auto'): Promise<{ spec: SynthSpec; text: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new SpecError([`(file): cannot read ${path}: ${(err as Error).message}`]);
  }
  return { spec: specFromDocument(parseSpecText(text, path), format), text };
}

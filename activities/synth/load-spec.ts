/** Reads a spec file (JSON or YAML) in any of the supported forms and validates it. */
import { extname } from 'node:path';

import { parseStructuredText, readTextFile, StructuredFileError } from '../storage/structured-file';
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

export interface LoadOptions {
  /** exhibit's anonymisation database (SQLite), for exhibit specs whose values are held there. */
  anonDb?: string;
  /** Non-fatal notes from the importers (rescaled probabilities, clamped statistics, approximations). */
  warnings?: string[];
}

export function specFromDocument(document: unknown, format: SpecFormat = 'auto', options: LoadOptions = {}): SynthSpec {
  const form = format === 'auto' ? detectSpecFormat(document) : format;
  if (form === 'exhibit') return importExhibitSpec(document, options);
  if (form === 'summary-statistics') return importSummaryStatistics(document, options);
  return parseSynthSpec(document);
}

/** JSON or YAML; an exhibit spec is read as YAML 1.1, as exhibit (PyYAML) reads it (`5_000` is 5000). */
export function parseSpecText(text: string, fileName: string): unknown {
  try {
    const document = parseStructuredText(text, fileName);
    return extname(fileName).toLowerCase() !== '.json' && detectSpecFormat(document) === 'exhibit' ? parseStructuredText(text, fileName, '1.1') : document;
  } catch (err) {
    if (err instanceof StructuredFileError) throw new SpecError([err.message]);
    throw err;
  }
}

export async function loadSynthSpec(path: string, format: SpecFormat = 'auto', options: LoadOptions = {}): Promise<{ spec: SynthSpec; text: string; warnings: string[] }> {
  let text: string;
  try {
    text = await readTextFile(path);
  } catch (err) {
    if (err instanceof StructuredFileError) throw new SpecError([err.message]);
    throw err;
  }
  const warnings = options.warnings ?? [];
  return { spec: specFromDocument(parseSpecText(text, path), format, { ...options, warnings }), text, warnings };
}

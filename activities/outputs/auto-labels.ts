/**
 * Labels the pipeline attaches before a coder sees a message (never Checked): survey answers whose
 * normalised text is one of a code's MatchValues, and activation messages the noise rule calls noise.
 */
import type { Label, Origin } from '../coding/coda-message';
import type { Code } from '../coding/code-scheme';
import type { CodingPlan } from '../coding/coding-plan';
import type { PlanDataset } from './plan-schemes';

/** The control codes that mean "noise" for ICR, besides the noise rule's own. */
export const NOISE_CONTROL_CODES = ['NC', 'NOC'] as const;

export function normaliseAnswer(text: string): string {
  return text.trim().toLowerCase();
}

export interface AutoLabeller {
  /** The labels for one message of the dataset, newest first (one per scheme at most). */
  labels(text: string): Label[];
  /** The noise rule says this activation message is noise. */
  isNoise(text: string): boolean;
}

export function autoLabeller(planDataset: PlanDataset, noise: CodingPlan['noise'], origin: Origin, labelledAt: string): AutoLabeller {
  const label = (schemeId: string, code: Code): Label => ({ SchemeID: schemeId, CodeID: code.CodeID, DateTimeUTC: labelledAt, Checked: false, Origin: origin });
  const patterns = (noise?.patterns ?? []).map((pattern) => new RegExp(pattern, 'i'));
  const isNoise = (text: string): boolean => {
    if (planDataset.dataset.kind !== 'activation' || !noise) return false;
    const trimmed = text.trim();
    if (noise.maxLength !== undefined && [...trimmed].length <= noise.maxLength) return true;
    return patterns.some((pattern) => pattern.test(trimmed));
  };

  if (planDataset.dataset.kind === 'survey') {
    // One look-up table per scheme: normalised match value → code.
    const tables = planDataset.schemes.map((scheme) => {
      const table = new Map<string, Code>();
      for (const code of scheme.scheme.Codes) for (const value of code.MatchValues ?? []) if (!table.has(normaliseAnswer(value))) table.set(normaliseAnswer(value), code);
      return table;
    });
    return {
      isNoise,
      labels(text) {
        const answer = normaliseAnswer(text);
        const labels: Label[] = [];
        planDataset.schemes.forEach((scheme, index) => {
          const code = tables[index]!.get(answer);
          if (code) labels.push(label(scheme.scheme.SchemeID, code));
        });
        return labels;
      },
    };
  }

  const noiseCodes = planDataset.schemes.map((scheme) => (noise ? scheme.scheme.Codes.find((code) => code.CodeType === 'Control' && code.ControlCode === noise.controlCode) : undefined));
  return {
    isNoise,
    labels(text) {
      if (!isNoise(text)) return [];
      const labels: Label[] = [];
      planDataset.schemes.forEach((scheme, index) => {
        const code = noiseCodes[index];
        if (code) labels.push(label(scheme.scheme.SchemeID, code));
      });
      return labels;
    },
  };
}

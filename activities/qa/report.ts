/**
 * QA outputs: the seed's JSON files per dataset, the cumulative distribution plot of sorted p-values
 * against the ideal diagonal (per dataset and across a series), a Kolmogorov–Smirnov test of the
 * p-values against U(0, 1) as the pass/fail figure, and one self-contained HTML report.
 */
import type { TopLevelSpec } from 'vega-lite';

import { renderSvg } from '../charts/render';
import type { DatasetQa } from './dataset-qa';
import { ksUniform } from './statistics';

export interface KsVerdict {
  p_values: number;
  ks_statistic: number | null;
  ks_p_value: number | null;
  /** Low-fidelity data must show no real correlations: p-values look uniform (KS p ≥ alpha). */
  passed: boolean;
  reason?: string;
}

export function ksVerdict(pValues: number[], alpha: number): KsVerdict {
  const result = ksUniform(pValues);
  if ('undefinedBecause' in result) return { p_values: pValues.length, ks_statistic: null, ks_p_value: null, passed: false, reason: result.undefinedBecause };
  return { p_values: pValues.length, ks_statistic: result.statistic, ks_p_value: result.pValue, passed: result.pValue >= alpha };
}

/** Sorted p-values against their fraction of the list (seed 000's plot), with the diagonal. */
export async function cumulativeDistributionSvg(title: string, pValues: number[]): Promise<string> {
  const sorted = [...pValues].sort((a, b) => a - b);
  const points = sorted.map((p, i) => ({ fraction: (i + 1) / sorted.length, p_value: p, series: 'synthetic data' }));
  const ideal = [
    { fraction: 0, p_value: 0, series: 'ideal case' },
    { fraction: 1, p_value: 1, series: 'ideal case' },
  ];
  const color = { field: 'series', type: 'nominal', title: null, scale: { domain: ['synthetic data', 'ideal case'], range: ['#1f77b4', '#ff7f0e'] }, legend: { orient: 'bottom-right' } } as const;
  const spec: TopLevelSpec = {
    title: { text: title, subtitle: `${sorted.length} p-values; uniform p-values lie on the diagonal` },
    width: 420,
    height: 320,
    encoding: {
      x: { field: 'fraction', type: 'quantitative', title: 'Fraction of comparisons', scale: { domain: [0, 1] } },
      y: { field: 'p_value', type: 'quantitative', title: 'p-value', scale: { domain: [0, 1] } },
      color,
    },
    layer: [
      { data: { values: points }, mark: { type: 'line', interpolate: 'step-before', strokeWidth: 2 } },
      { data: { values: ideal }, mark: { type: 'line', strokeDash: [6, 4], strokeWidth: 2 } },
    ],
  };
  return renderSvg(spec);
}

const escapeHtml = (text: string): string => text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const formatNumber = (value: number | null): string => (value === null ? '—' : Math.abs(value) >= 1000 || value === 0 ? String(Math.round(value * 1e4) / 1e4) : value.toPrecision(4));

function table(headers: string[], rows: Array<Array<string | number | null>>): string {
  const cell = (value: string | number | null): string => escapeHtml(typeof value === 'number' || value === null ? formatNumber(value) : value);
  return `<table><thead><tr>${headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((row) => `<tr>${row.map((value) => `<td>${cell(value)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

export interface ReportDataset {
  name: string;
  qa: DatasetQa;
  verdict: KsVerdict;
  plotSvg: string;
  /** The spec and table it was checked against (a batch may hold several). */
  checkedAgainst?: { spec: string; table: string };
}

export function htmlReport(title: string, datasets: ReportDataset[], overall: { verdict: KsVerdict; plotSvg: string }, alpha: number): string {
  const badge = (verdict: KsVerdict): string =>
    `<span class="${verdict.passed ? 'pass' : 'fail'}">${verdict.passed ? 'PASS' : 'FAIL'}</span> KS p = ${formatNumber(verdict.ks_p_value)} over ${verdict.p_values} p-values${verdict.reason ? ` (${escapeHtml(verdict.reason)})` : ''}`;
  const sections = datasets.map(
    ({ name, qa, verdict, plotSvg, checkedAgainst }) => `
<section>
<h2>${escapeHtml(name)}</h2>
<p>${checkedAgainst ? `Checked against table ${escapeHtml(checkedAgainst.table)} of ${escapeHtml(checkedAgainst.spec)}. ` : ''}${qa.rows.toLocaleString('en')} rows. ${badge(verdict)}</p>
<div class="plot">${plotSvg}</div>
<h3>Numeric columns</h3>
${table(['column', 'statistic', 'spec', 'synthetic'], qa.numerical_metrics_comparison.map((m) => [m.Name, m.stat, m.expected, m.value]))}
<h3>Categorical columns</h3>
${table(['column', 'total variation distance'], qa.total_variation_distance.map((m) => [m.Name, m.total_variation_distance]))}
${table(['column', 'option', 'spec', 'synthetic'], qa.categorical_metrics_comparison.map((m) => [m.Name, m.Category_Option, m.proportion_original, m.proportion_synthetic]))}
<h3>Warnings</h3>
${qa.warnings.length === 0 ? '<p>None.</p>' : table(['column(s)', 'test', 'reason'], qa.warnings.map((w) => [w.Name ?? `${w.Comparison_column_1} × ${w.Comparison_column_2}`, w.test ?? '', w.reason]))}
</section>`,
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body { font-family: 'DejaVu Sans', Arial, sans-serif; margin: 2rem auto; max-width: 70rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f3f3f3; }
.pass { background: #2e7d32; color: white; padding: 0.1rem 0.4rem; border-radius: 3px; }
.fail { background: #c62828; color: white; padding: 0.1rem 0.4rem; border-radius: 3px; }
section { border-top: 2px solid #ddd; margin-top: 2rem; }
</style></head><body>
<h1>${escapeHtml(title)}</h1>
<p>Low-fidelity synthetic data should show no real correlations: the p-values of all column pairs should be
uniform, so their cumulative distribution follows the diagonal. The Kolmogorov–Smirnov test of the p-values
against U(0, 1) passes when its p-value is at least ${alpha}.</p>
<h2>All datasets</h2>
<p>${badge(overall.verdict)}</p>
<div class="plot">${overall.plotSvg}</div>
${sections.join('\n')}
</body></html>
`;
}

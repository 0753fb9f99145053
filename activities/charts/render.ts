/**
 * Charts rendered in Node: vega-lite specs to SVG (vega's headless view), SVG to PNG (resvg) and to
 * vector PDF (pdfkit + svg-to-pdfkit). Text uses the DejaVu Sans font shipped in dejavu-fonts-ttf, so
 * output does not depend on the machine's fonts.
 */
import { dirname, join } from 'node:path';

import type { TopLevelSpec } from 'vega-lite';

const FONT_FOLDER = join(dirname(require.resolve('dejavu-fonts-ttf/package.json')), 'ttf');
export const CHART_FONT = 'DejaVu Sans';
const FONT_FILES = [join(FONT_FOLDER, 'DejaVuSans.ttf'), join(FONT_FOLDER, 'DejaVuSans-Bold.ttf')];

/** Shared look: readable sizes, the bundled font, a white background. */
const CHART_CONFIG = {
  font: CHART_FONT,
  background: 'white',
  title: { fontSize: 16, anchor: 'start', offset: 12 },
  axis: { labelFontSize: 12, titleFontSize: 13, titlePadding: 10 },
  legend: { labelFontSize: 12, titleFontSize: 13 },
  view: { stroke: null },
} as const;

/** vega and vega-lite are ES modules with top-level await: loaded with import(), once. */
const modules = (async () => {
  const [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')]);
  return { vega, vegaLite };
})();

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const { vega, vegaLite } = await modules;
  const compiled = vegaLite.compile({ ...spec, config: { ...CHART_CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export async function svgToPng(svg: string, scale = 2): Promise<Buffer> {
  const { Resvg } = await import('@resvg/resvg-js');
  const image = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    font: { fontFiles: FONT_FILES, loadSystemFonts: false, defaultFontFamily: CHART_FONT },
  }).render();
  return image.asPng();
}

/** `createdAt` is the PDF's CreationDate (and seeds its file ID): from the stage's clock, so a rerun at the same time makes the same bytes. */
export async function svgToPdf(svg: string, createdAt: Date): Promise<Buffer> {
  const [{ default: PDFDocument }, { default: SVGtoPDF }] = await Promise.all([import('pdfkit'), import('svg-to-pdfkit')]);
  const width = Number(/<svg[^>]*\swidth="([\d.]+)"/.exec(svg)?.[1] ?? 600);
  const height = Number(/<svg[^>]*\sheight="([\d.]+)"/.exec(svg)?.[1] ?? 400);
  const document = new PDFDocument({ size: [width, height], margin: 0, info: { Title: 'chart', CreationDate: createdAt } });
  document.registerFont(CHART_FONT, FONT_FILES[0]!);
  document.registerFont(`${CHART_FONT} Bold`, FONT_FILES[1]!);
  const chunks: Buffer[] = [];
  document.on('data', (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise<void>((resolve) => document.on('end', () => resolve()));
  SVGtoPDF(document, svg, 0, 0, {
    width,
    height,
    fontCallback: (family: string, bold: boolean) => (bold ? `${CHART_FONT} Bold` : CHART_FONT),
  });
  document.end();
  await done;
  return Buffer.concat(chunks);
}

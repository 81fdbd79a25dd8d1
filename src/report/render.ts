import * as vega from 'vega';
import { compile } from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import { ConfigError } from '../lib/errors.ts';

/** Renders a Vega-Lite spec to an SVG string, headless (no canvas needed for SVG). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The optional package that turns SVG into PNG (prebuilt binaries, no native build). */
export const PNG_PACKAGE = '@resvg/resvg-js';

interface ResvgModule {
  Resvg: new (
    svg: string,
    options?: { background?: string; fitTo?: { mode: 'zoom'; value: number }; font?: { loadSystemFonts?: boolean } },
  ) => { render(): { asPng(): Uint8Array } };
}

/** SVG → PNG at `scale`× (2 reads well on screens); needs @resvg/resvg-js, loaded only here. */
export async function svgToPng(svg: string, scale = 2): Promise<Uint8Array> {
  let resvg: ResvgModule;
  try {
    const name = PNG_PACKAGE;
    resvg = (await import(name)) as ResvgModule;
  } catch {
    throw new ConfigError(
      `PNG output needs the npm package ${PNG_PACKAGE}, which is not installed: run \`npm install ${PNG_PACKAGE}\`, or write an .svg file`,
    );
  }
  const image = new resvg.Resvg(svg, { background: 'white', fitTo: { mode: 'zoom', value: scale }, font: { loadSystemFonts: true } });
  return image.render().asPng();
}

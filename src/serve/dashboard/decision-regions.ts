// Decision regions of a registered classifier: its ONNX graph, run by onnxruntime on a grid over two
// features. A session of its own (CPU, one thread), not the serving one: the grid neither waits in
// nor counts in the serving queues and histograms, and loads no version into serving.
import * as ort from 'onnxruntime-node';
import { float32AxisProblem, gridRows, paddedRange, type GridSpec } from '../../report/decision-grid.ts';
import { invalidInput, unservableOutput } from '../dataplane/errors.ts';
import type { DecisionRegionsView } from './api-schemas.ts';

/** Rows per run, so that one run's output stays small. */
const CHUNK_ROWS = 1024;

/** Runs [rows, features] float32 rows through the model; answers its first output, flat. */
export type Evaluate = (rows: Float32Array, count: number) => Promise<ArrayLike<number>>;

export async function withOnnxSession<T>(artifact: Uint8Array, use: (evaluate: Evaluate) => Promise<T>): Promise<T> {
  const session = await ort.InferenceSession.create(artifact, { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    return await use(async (rows, count) => {
      const input = new ort.Tensor('float32', rows, [count, rows.length / count]);
      const results = await session.run({ [session.inputNames[0]]: input });
      return results[session.outputNames[0]].data as Float32Array;
    });
  } finally {
    await session.release();
  }
}

export interface RegionsRequest {
  x: number;
  y: number;
  resolution: number;
  xRange?: [number, number];
  yRange?: [number, number];
}

/** The answer's grid and points (at most MAX_POINTS rows of the run's data); the route adds pointsHidden. */
export type DecisionRegions = Omit<DecisionRegionsView, 'pointsHidden'>;

const MAX_POINTS = 2000;

/** The rows the run was trained from, as `bnserve report` reloads them from the run's config. */
export interface RunData {
  x: Float32Array;
  y: Float32Array;
}

/** What the regions use of a run's rows: aggregates over all of them, and the first MAX_POINTS rows to plot. */
export interface RunDataSummary {
  /** Per feature. */
  means: number[];
  /** Per feature: its data range, padded by a tenth of its width. */
  paddedRanges: [number, number][];
  sample: RunData;
}

export function summarizeRunData(data: RunData, featureCount: number): RunDataSummary {
  return {
    means: columnMeans(data.x, featureCount),
    paddedRanges: Array.from({ length: featureCount }, (_, feature) => paddedRange(data.x, featureCount, feature)),
    sample: { x: data.x.slice(0, MAX_POINTS * featureCount), y: data.y.slice(0, MAX_POINTS) },
  };
}

export interface ModelFacts {
  featureNames: string[];
  /** The model's input shape without the batch dimension. */
  inputShape: number[];
  classLabels: string[];
  task: 'classification' | 'regression';
  /** For a regression model used as a sign classifier (an Adaline): the labels of output < 0 and ≥ 0. */
  signLabels: [string, string] | null;
  standardization: { mean: number[]; std: number[] } | null;
  /** The run's rows; null when they could not be read here or the caller may not see them. */
  data: RunDataSummary | null;
}

function columnMeans(x: Float32Array, count: number): number[] {
  const sums = new Array(count).fill(0);
  for (let i = 0; i < x.length; i++) sums[i % count] += x[i];
  return sums.map((sum) => sum / (x.length / count));
}

function range(
  facts: ModelFacts,
  feature: number,
  resolution: number,
  given: [number, number] | undefined,
  axis: string,
): [number, number] {
  if (given) {
    const problem = float32AxisProblem(given, resolution);
    if (problem) throw invalidInput(`${axis}Min..${axis}Max (${given[0]} to ${given[1]}): ${problem}`);
    return given;
  }
  const [derived, source] = derivedRange(facts, feature, axis);
  const problem = float32AxisProblem(derived, resolution);
  if (problem)
    throw invalidInput(
      `the ${axis} range from ${source} (${derived[0]} to ${derived[1]}) cannot be used: ${problem}; give ${axis}Min and ${axis}Max`,
    );
  return derived;
}

function derivedRange(facts: ModelFacts, feature: number, axis: string): [[number, number], string] {
  if (facts.data) return [facts.data.paddedRanges[feature], "the run's data"];
  if (!facts.standardization) {
    throw invalidInput(
      `no default ${axis} range: the run's rows are not readable here or not shown to this caller, and the graph carries no ` +
        `standardisation constants (a folded graph has them inside its first layer): give ${axis}Min and ${axis}Max`,
    );
  }
  const { mean, std } = facts.standardization;
  return [[mean[feature] - 3 * std[feature], mean[feature] + 3 * std[feature]], "the graph's standardisation"];
}

export async function decisionRegions(evaluate: Evaluate, facts: ModelFacts, request: RegionsRequest): Promise<DecisionRegions> {
  const count = facts.featureNames.length;
  if (facts.task !== 'classification' && !facts.signLabels)
    throw invalidInput('decision regions need a classifier (or a sign classifier such as an Adaline)');
  if (facts.inputShape.length !== 1 || count < 2)
    throw invalidInput('decision regions need a model of tabular rows with two or more features');
  for (const [axis, f] of [
    ['x', request.x],
    ['y', request.y],
  ] as const) {
    if (f >= count) throw invalidInput(`${axis} must be a feature index below ${count}`);
  }
  if (request.x === request.y) throw invalidInput('x and y must be two different features');
  const fill = facts.data?.means ?? facts.standardization?.mean.slice(0, count) ?? new Array(count).fill(0);
  if (!fill.every((v) => Number.isFinite(Math.fround(v)))) {
    throw invalidInput("the other features' mean values are not finite float32 numbers: no grid can hold them");
  }
  const spec: GridSpec = {
    featureCount: count,
    xFeature: request.x,
    yFeature: request.y,
    xRange: range(facts, request.x, request.resolution, request.xRange, 'x'),
    yRange: range(facts, request.y, request.resolution, request.yRange, 'y'),
    resolution: request.resolution,
    fill,
  };
  const rows = gridRows(spec);
  const total = spec.resolution * spec.resolution;
  const cells: number[] = [];
  const confidence: number[] = [];
  let nonFinite = 0;
  for (let start = 0; start < total; start += CHUNK_ROWS) {
    const n = Math.min(CHUNK_ROWS, total - start);
    const data = await evaluate(rows.subarray(start * count, (start + n) * count), n);
    const width = data.length / n;
    for (let r = 0; r < n; r++) {
      if (facts.task === 'regression') {
        const value = Number(data[r * width]);
        if (!Number.isFinite(value)) nonFinite++;
        cells.push(value >= 0 ? 1 : 0);
        confidence.push(Math.abs(value));
        continue;
      }
      let best = 0;
      for (let c = 1; c < width; c++) if (data[r * width + c] > data[r * width + best]) best = c;
      if (!Number.isFinite(data[r * width + best])) nonFinite++;
      cells.push(best);
      confidence.push(Number(data[r * width + best]));
    }
  }
  if (nonFinite > 0) throw overflowed(nonFinite, total, request);
  const heldAt = Object.fromEntries(
    facts.featureNames.map((name, i) => [name, fill[i]]).filter((_, i) => i !== request.x && i !== request.y),
  );
  return {
    features: [facts.featureNames[request.x], facts.featureNames[request.y]],
    classes: facts.task === 'regression' ? [...(facts.signLabels as [string, string])] : facts.classLabels,
    xRange: spec.xRange,
    yRange: spec.yRange,
    resolution: spec.resolution,
    heldAt,
    cells,
    confidence,
    points: pointsOf(facts, request),
  };
}

/** NaN or ±Infinity answers cannot be sent (JSON has neither): said in a sentence, never serialised. */
function overflowed(nonFinite: number, total: number, request: RegionsRequest) {
  const where = `the model answers NaN or ±Infinity at ${nonFinite} of the ${total} grid points`;
  return request.xRange || request.yRange
    ? invalidInput(`${where}: its float32 arithmetic overflows over this range; choose a narrower range nearer the data`)
    : unservableOutput(`${where} of its default range: the model or its standardisation constants are not finite there`);
}

function pointsOf(facts: ModelFacts, request: RegionsRequest): DecisionRegions['points'] {
  if (!facts.data) return [];
  const count = facts.featureNames.length;
  const { x, y } = facts.data.sample;
  return Array.from({ length: y.length }, (_, r) => {
    const target = y[r];
    return {
      x: x[r * count + request.x],
      y: x[r * count + request.y],
      label: facts.task === 'regression' ? (target >= 0 ? 1 : 0) : target,
    };
  });
}

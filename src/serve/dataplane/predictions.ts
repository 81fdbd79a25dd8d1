// Pure formatting of model outputs into TF-Serving style predictions.
import { unservableOutput } from './errors.ts';
import { elementCount, firstNonFinite } from './tensor-data.ts';
import type { OutputTensor } from './tensors.ts';

/** What these functions read of an output tensor (tests pass plain arrays as data). */
export type OutputValues = Pick<OutputTensor, 'shape'> & { data: ArrayLike<number | bigint> };

export interface ClassPrediction {
  label: string;
  probabilities: Record<string, number>;
}

export interface RegressionPrediction {
  prediction: number | number[];
}

/** Rejects NaN/Infinity outputs (JSON cannot carry them; they mean the inputs are far out of range). */
export function assertFiniteOutput(name: string, out: OutputValues): void {
  const i = firstNonFinite(out.data);
  if (i < 0) return;
  const perRow = Math.max(1, elementCount(out.shape.slice(1)));
  throw unservableOutput(
    `the model produced a non-finite value in output "${name}" for row ${Math.floor(i / perRow)}; check that the inputs are on the scale the model was trained on`,
  );
}

/** One {label, probabilities} per row, label = arg max; labels default to class indices. */
export function classPredictions(out: OutputValues, labels: readonly string[]): ClassPrediction[] {
  const rows = out.shape[0];
  const classes = elementCount(out.shape.slice(1));
  const names = labels.length === classes ? labels : Array.from({ length: classes }, (_, k) => String(k));
  const result: ClassPrediction[] = [];
  for (let r = 0; r < rows; r++) {
    const entries: [string, number][] = [];
    let best = 0;
    for (let k = 0; k < classes; k++) {
      const p = Number(out.data[r * classes + k]);
      entries.push([names[k], p]);
      if (p > Number(out.data[r * classes + best])) best = k;
    }
    // fromEntries defines own keys: a label "__proto__" stays a label instead of setting the prototype.
    result.push({ label: names[best], probabilities: Object.fromEntries(entries) });
  }
  return result;
}

/** One {prediction} per row: a number for [batch, 1] outputs, else the row's values. */
export function regressionPredictions(out: OutputValues): RegressionPrediction[] {
  const rows = out.shape[0];
  const width = elementCount(out.shape.slice(1));
  const result: RegressionPrediction[] = [];
  for (let r = 0; r < rows; r++) {
    if (width === 1) result.push({ prediction: Number(out.data[r]) });
    else result.push({ prediction: Array.from({ length: width }, (_, k) => Number(out.data[r * width + k])) });
  }
  return result;
}

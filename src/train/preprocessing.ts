/** preprocessing.json: what the trainer did to the raw features, read by the exporter without tfjs. */
export interface Preprocessing {
  task: 'classification' | 'regression';
  featureNames: string[];
  /** Shape of one sample without the batch dimension: [F] or [H, W, C]. */
  inputShape: number[];
  /** Per feature (or per channel for images), from the training split only. */
  mean: number[];
  /** Population std; a constant feature is stored as 1. */
  std: number[];
  classLabels: string[];
  targetName?: string;
  /** Regression on ±1 targets (an Adaline): the class is the sign of the output, negative → `negative`. */
  signClasses?: { negative: string; positive: string };
}

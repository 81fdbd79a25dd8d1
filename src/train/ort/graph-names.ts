// Names of the training graph's inputs and outputs, shared by the graph builder and the step that feeds it.

/** Inputs fed every step besides the state: the batch and the step's scalars. */
export const FEED = {
  x: 'x',
  y: 'y',
  /** 1 / rows in the batch. */
  invBatch: 'inv_batch',
} as const;

export const LOSS = 'loss';
/** Share of rows whose most probable class is the label's (tfjs's categorical accuracy), before the update. */
export const ACCURACY = 'accuracy';

/** Graph value names by tfjs weight name. */
export const paramInput = (weight: string) => `param:${weight}`;
export const gradientOutput = (weight: string) => `grad:${weight}`;
export const movingInput = (weight: string) => `moving:${weight}`;
export const movingOutput = (weight: string) => `new_moving:${weight}`;

export interface WeightInfo {
  /** The tfjs weight name, e.g. dense_0/kernel or batch_normalization_1/moving_mean. */
  name: string;
  shape: number[];
}

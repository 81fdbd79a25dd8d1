// The checkpoint format: file names, schemas, the writer and the one tfjs-free reader.
export { CheckpointError } from './errors.ts';
export { assertCheckpointDestination } from './destination.ts';
export {
  CHECKPOINT_FILES,
  CHECKPOINT_FOLDER_FILES,
  CONFIG_FILE,
  MARKER_FILE,
  METRICS_FILE,
  MODEL_FILE,
  PREPROCESSING_FILE,
  WEIGHTS_FILE,
} from './files.ts';
export type { Activation, CheckpointLayer, Padding } from './layers.ts';
export { type Checkpoint, readCheckpoint, readConfig, readMarker, readMetrics, readModelJson, readPreprocessing } from './read.ts';
export type { BnGuard, Marker, Metrics, ModelJson, Preprocessing, WeightGroup } from './schemas.ts';
export { readWeightGroup } from './weights.ts';
export { type CheckpointContents, sweepStaleTempFolders, writeCheckpoint } from './write.ts';

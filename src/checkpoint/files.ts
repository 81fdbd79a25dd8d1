/** The files of a checkpoint folder, named in one place (see ARCHITECTURE.md, "Checkpoint directory"). */
export const MODEL_FILE = 'model.json';
export const WEIGHTS_FILE = 'weights.bin';
export const PREPROCESSING_FILE = 'preprocessing.json';
export const CONFIG_FILE = 'config.json';
export const METRICS_FILE = 'metrics.json';
/** Says that bnserve wrote the folder (format version, run id): only such a folder is ever replaced. */
export const MARKER_FILE = 'bnserve-checkpoint.json';

/** The checkpoint's content: what the reader reads. */
export const CHECKPOINT_FILES = [MODEL_FILE, WEIGHTS_FILE, PREPROCESSING_FILE, CONFIG_FILE, METRICS_FILE] as const;
/** Everything the writer puts in a checkpoint folder (older versions wrote no marker). */
export const CHECKPOINT_FOLDER_FILES = [...CHECKPOINT_FILES, MARKER_FILE] as const;

/** The files of a checkpoint folder, named in one place (see ARCHITECTURE.md, "Checkpoint directory"). */
export const MODEL_FILE = 'model.json';
export const WEIGHTS_FILE = 'weights.bin';
export const PREPROCESSING_FILE = 'preprocessing.json';
export const CONFIG_FILE = 'config.json';
export const METRICS_FILE = 'metrics.json';

export const CHECKPOINT_FILES = [MODEL_FILE, WEIGHTS_FILE, PREPROCESSING_FILE, CONFIG_FILE, METRICS_FILE] as const;

// Which engine trains a model: tfjs (model.fit on the chosen tfjs backend) or bnserve's onnxruntime
// training step. `auto` takes onnxruntime wherever it supports the model and tfjs is not pinned to a
// backend: `npm run bench -- train` measured it ahead of every tfjs backend on every dense net it
// supports (its matrix products are multi-threaded MLAS), and it trains to the same results.
import { ConfigError } from '../../lib/errors.ts';
import { type OrtModelShape, ortUnsupportedReason } from './support.ts';

export type TrainEngine = 'tfjs' | 'onnxruntime';
export type TrainEnginePreference = 'auto' | TrainEngine;

export interface EngineChoice {
  engine: TrainEngine;
  /** One line for the user: why this engine. */
  reason: string;
}

export interface EngineChoiceInput extends OrtModelShape {
  /** The config's tfjs backend: anything but auto pins training to tfjs under `auto`. */
  backend: 'auto' | 'tensorflow' | 'wasm' | 'cpu';
}

export function chooseTrainEngine(preference: TrainEnginePreference, model: EngineChoiceInput): EngineChoice {
  if (preference === 'tfjs') return { engine: 'tfjs', reason: 'tfjs was asked for' };
  const unsupported = ortUnsupportedReason(model);
  if (preference === 'onnxruntime') {
    if (unsupported) throw new ConfigError(`the onnxruntime training engine cannot train this model: ${unsupported}`);
    return { engine: 'onnxruntime', reason: 'onnxruntime was asked for' };
  }
  if (unsupported) return { engine: 'tfjs', reason: `onnxruntime does not support this model (${unsupported})` };
  if (model.backend !== 'auto') return { engine: 'tfjs', reason: `the config pins the tfjs backend "${model.backend}"` };
  return {
    engine: 'onnxruntime',
    reason: 'onnxruntime supports every layer of this model and trains dense nets faster than tfjs (multi-threaded products)',
  };
}

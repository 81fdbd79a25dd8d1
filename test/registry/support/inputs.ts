import { randomBytes } from 'node:crypto';
import type { RegisterVersionInput } from '../../../src/registry/types.ts';

/** A valid registration with unique artifact bytes (the bytes need not be real ONNX here). */
export function versionInput(name: string, overrides: Partial<RegisterVersionInput> = {}): RegisterVersionInput {
  return {
    name,
    runId: null,
    artifact: new Uint8Array(randomBytes(256)),
    opset: 17,
    inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }],
    outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 3] }],
    task: 'classification',
    classLabels: ['setosa', 'versicolor', 'virginica'],
    featureNames: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'],
    parityMaxAbsDiff: 2.5e-7,
    folded: true,
    ...overrides,
  };
}

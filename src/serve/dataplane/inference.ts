// The protocol-neutral request forms and the checks on them, used by DataPlane (data-plane.ts):
// which inputs bind to which model inputs, their shapes, the outputs asked for, the queue timeout.
import { quoted } from '../../lib/quote.ts';
import type { SubmitOptions } from './batcher.ts';
import { InvalidInputError, invalidInput } from './errors.ts';
import type { LoadedVersion, TensorInfo } from './loaded-version.ts';
import type { ClassPrediction, RegressionPrediction } from './predictions.ts';
import { describeValue, type ElementArray, type ModelElementType } from './tensor-data.ts';

export type VersionRef = number | string | undefined;

export type RequestParameters = Record<string, unknown> | undefined;

/** One input tensor as a protocol gives it: its header now, its contents once the model's element type is known. */
export interface TensorInput {
  name: string;
  shape: number[];
  /** The contents as the model's element type; `where` ("inputs[0]") starts every error message. */
  decode(target: ModelElementType, where: string): ElementArray;
}

/** An inference request after protocol parsing (JSON + binary extension, or gRPC messages). */
export interface TensorRequest {
  inputs: readonly TensorInput[];
  /** Output names asked for; undefined or empty: every output (as Triton does). */
  outputs?: readonly string[];
  /** Request parameters: `timeout` (queue timeout in microseconds) is read here. */
  parameters?: RequestParameters;
  /** Runs once every input is decoded (the binary extension checks that no byte is left over). */
  afterDecode?: () => void;
  /** The transport's request id (X-Request-Id), for the payload log. */
  requestId?: string;
}

export interface PredictResult {
  predictions: (ClassPrediction | RegressionPrediction)[];
  model_version: number;
}

/** TF-Serving's :predict takes rows of one input; other signatures are for the v2 infer route. */
export function assertTakesRows(v: LoadedVersion): void {
  if (!v.takesRows) {
    throw invalidInput(
      `model "${v.name}" version ${v.version} has several inputs or dynamic row shapes; use POST /v2/models/${v.name}/infer`,
    );
  }
}

/** Triton's per-request queue timeout: parameters.timeout in microseconds (only shortens the model's). */
export function submitOptions(parameters: RequestParameters): SubmitOptions {
  const t = parameters?.timeout;
  if (t === undefined) return {};
  if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 0) {
    throw new InvalidInputError(`parameters.timeout: expected microseconds (a non-negative integer), got ${describeValue(t)}`);
  }
  return { timeoutMicroseconds: t };
}

/**
 * Binds request inputs to model inputs by name. A single-input model also takes a single input
 * under another name ("input-0" in KServe's examples), as KServe's own runtimes do, unless
 * strictNames (BNSERVE_STRICT_INPUT_NAMES) asks for exact names.
 */
export function bindInputs(
  v: LoadedVersion,
  inputs: readonly TensorInput[],
  strictNames: boolean,
): Map<TensorInfo, { index: number; input: TensorInput }> {
  const bound = new Map<TensorInfo, { index: number; input: TensorInput }>();
  if (v.inputs.length === 1 && inputs.length === 1 && !strictNames) {
    bound.set(v.inputs[0], { index: 0, input: inputs[0] });
    return bound;
  }
  const expected = v.inputs.map((t) => t.name).join(', ');
  inputs.forEach((input, index) => {
    const info = v.inputs.find((t) => t.name === input.name);
    if (!info) throw new InvalidInputError(`inputs[${index}]: unknown input ${quoted(input.name)} (model inputs: ${expected})`);
    if (bound.has(info)) throw new InvalidInputError(`inputs[${index}]: input ${quoted(input.name)} is given twice`);
    bound.set(info, { index, input });
  });
  for (const info of v.inputs) {
    if (!bound.has(info)) throw new InvalidInputError(`missing input "${info.name}" (model inputs: ${expected})`);
  }
  return bound;
}

export function checkShape(info: TensorInfo, shape: readonly number[], where: string): void {
  const expected = `[${info.shape.map((d) => (d === -1 ? 'batch' : d)).join(', ')}]`;
  if (shape.length !== info.shape.length) {
    throw new InvalidInputError(
      `${where}.shape: [${shape.join(', ')}] has ${shape.length} dimensions, input "${info.name}" takes ${expected}`,
    );
  }
  info.shape.forEach((d, i) => {
    if (d !== -1 && shape[i] !== d)
      throw new InvalidInputError(`${where}.shape: dimension ${i} is ${shape[i]}, input "${info.name}" takes ${expected}`);
  });
}

/** The output names to answer with, each a model output named once. */
export function wantedOutputs(v: LoadedVersion, asked: readonly string[] | undefined): string[] {
  const wanted = asked !== undefined && asked.length > 0 ? [...asked] : v.outputs.map((o) => o.name);
  const twice = wanted.find((name, i) => wanted.indexOf(name) !== i);
  if (twice !== undefined) throw new InvalidInputError(`outputs: ${quoted(twice)} is asked for twice; name each output once`);
  for (const name of wanted) {
    if (!v.outputs.some((o) => o.name === name)) {
      throw new InvalidInputError(`unknown output ${quoted(name)} (model outputs: ${v.outputs.map((o) => o.name).join(', ')})`);
    }
  }
  return wanted;
}

// Request → tensors → session → response, shared by both protocols. No HTTP routing here.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { InvalidInputError, badRequest } from '../http-errors.ts';
import type { LoadedVersion, TensorInfo } from '../loaded-version.ts';
import { predictionOutput } from '../loaded-version.ts';
import type { Lease } from '../model-manager.ts';
import {
  assertFiniteOutput,
  classPredictions,
  regressionPredictions,
  type ClassPrediction,
  type RegressionPrediction,
} from '../predictions.ts';
import {
  decodeTensorData,
  rowsToTensor,
  toJsonNumbers,
  v2Datatype,
  type ElementArray,
  type InputDatatype,
  type ModelElementType,
} from '../tensor-data.ts';

type VersionRef = number | string | undefined;

/** Acquires the serving version, records it for metrics, and releases it when fn is done. */
export async function withModel<T>(
  app: FastifyInstance,
  request: FastifyRequest,
  name: string,
  ref: VersionRef,
  fn: (v: LoadedVersion) => Promise<T>,
): Promise<T> {
  const lease: Lease = await app.models.acquire(name, ref);
  request.served = { model: lease.version.name, version: lease.version.version };
  try {
    return await fn(lease.version);
  } finally {
    lease.release();
  }
}

export interface PredictResult {
  predictions: (ClassPrediction | RegressionPrediction)[];
  model_version: number;
}

export async function predictRows(app: FastifyInstance, v: LoadedVersion, instances: readonly unknown[]): Promise<PredictResult> {
  if (!v.takesRows) {
    throw badRequest(
      `model "${v.name}" version ${v.version} has several inputs or dynamic row shapes; use POST /v2/models/${v.name}/infer`,
    );
  }
  const data = rowsToTensor(instances, { target: v.inputType, rowShape: v.rowShape, featureNames: v.record.featureNames });
  const result = await v.runRows(data, instances.length);
  app.metrics.observeInference(v.name, v.version, result);
  const output = predictionOutput(v.record, v.outputs);
  const values = result.outputs[output.name];
  assertFiniteOutput(output.name, values);
  const predictions = v.record.task === 'classification' ? classPredictions(values, v.record.classLabels) : regressionPredictions(values);
  return { predictions, model_version: v.version };
}

export interface InferRequestBody {
  id?: string;
  inputs: { name: string; shape: number[]; datatype: InputDatatype; data: unknown[] }[];
  outputs?: { name: string }[];
}

export interface InferResult {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: { name: string; shape: number[]; datatype: string; data: number[] }[];
}

/**
 * Binds request inputs to model inputs by name. A single-input model also takes a single input
 * under another name ("input-0" in KServe's examples), as KServe's own runtimes do, unless
 * strictNames (BNSERVE_STRICT_INPUT_NAMES) asks for exact names.
 */
function bindInputs(
  v: LoadedVersion,
  inputs: InferRequestBody['inputs'],
  strictNames: boolean,
): Map<TensorInfo, { index: number; input: InferRequestBody['inputs'][number] }> {
  const bound = new Map<TensorInfo, { index: number; input: InferRequestBody['inputs'][number] }>();
  if (v.inputs.length === 1 && inputs.length === 1 && !strictNames) {
    bound.set(v.inputs[0], { index: 0, input: inputs[0] });
    return bound;
  }
  const expected = v.inputs.map((t) => t.name).join(', ');
  inputs.forEach((input, index) => {
    const info = v.inputs.find((t) => t.name === input.name);
    if (!info) throw new InvalidInputError(`inputs[${index}]: unknown input "${input.name}" (model inputs: ${expected})`);
    if (bound.has(info)) throw new InvalidInputError(`inputs[${index}]: input "${input.name}" is given twice`);
    bound.set(info, { index, input });
  });
  for (const info of v.inputs) {
    if (!bound.has(info)) throw new InvalidInputError(`missing input "${info.name}" (model inputs: ${expected})`);
  }
  return bound;
}

function checkShape(info: TensorInfo, shape: readonly number[], where: string): void {
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

export async function inferTensors(app: FastifyInstance, v: LoadedVersion, body: InferRequestBody): Promise<InferResult> {
  const wanted = body.outputs?.map((o) => o.name) ?? v.outputs.map((o) => o.name);
  for (const name of wanted) {
    if (!v.outputs.some((o) => o.name === name)) {
      throw new InvalidInputError(`unknown output "${name}" (model outputs: ${v.outputs.map((o) => o.name).join(', ')})`);
    }
  }
  // A JSON body of N bytes carries at most about N/2 numbers ("0,"): a cheap bound on claimed shapes.
  const maxElements = Math.ceil(app.serveConfig.limits.bodyLimit / 2);
  const feeds: Record<string, { data: ElementArray; dims: number[] }> = {};
  for (const [info, { index, input }] of bindInputs(v, body.inputs, app.serveConfig.strictInputNames)) {
    const where = `inputs[${index}]`;
    checkShape(info, input.shape, where);
    const data = decodeTensorData(input.data, input.shape, {
      datatype: input.datatype,
      target: info.type as ModelElementType,
      where: `${where}.data`,
      maxElements,
    });
    feeds[info.name] = { data, dims: input.shape };
  }
  const result = await v.runFeeds(feeds).catch((err: unknown) => {
    // Row models are fully checked above; several inputs can still disagree (e.g. batch sizes).
    if (v.takesRows) throw err;
    throw new InvalidInputError(`the model rejected the inputs: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  });
  app.metrics.observeInference(v.name, v.version, result);
  const outputs = wanted.map((name) => {
    const t = result.outputs[name];
    assertFiniteOutput(name, t);
    return { name, shape: [...t.dims], datatype: v2Datatype(t.type), data: toJsonNumbers(t.data) };
  });
  return { model_name: v.name, model_version: String(v.version), ...(body.id !== undefined ? { id: body.id } : {}), outputs };
}

// Request → tensors → session → response, shared by both protocols. No HTTP routing here.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OverloadedError, type BatchResult, type OutputTensor, type SubmitOptions } from '../batcher.ts';
import { BinaryReader, binaryDataSize, decodeBinaryTensor, encodeBinaryResponse, HEADER_LENGTH, tensorBytes } from '../binary-tensors.ts';
import { BnserveError } from '../../lib/errors.ts';
import { quoted } from '../../lib/quote.ts';
import { InvalidInputError, invalidInput } from '../errors.ts';
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
  describeValue,
  rowsToTensor,
  toJsonNumbers,
  v2Datatype,
  type ElementArray,
  type InputDatatype,
  type ModelElementType,
} from '../tensor-data.ts';

type VersionRef = number | string | undefined;

/**
 * Serialiser for the inference routes: plain JSON.stringify. Their responses are built by this
 * module with fixed shapes (typed above); validating them again with zod on every reply was a
 * measurable share of a request's CPU time. The zod schemas still document them in /docs.
 */
export const fastJson = () => (data: unknown) => JSON.stringify(data);

/**
 * Acquires the serving version for one call of either protocol and releases it when fn is done.
 * An inference that fails counts as a failure for the statistics extension; one the scheduler
 * turns away (queue full, queue timeout) as a rejection.
 */
export async function leaseModel<T>(
  app: FastifyInstance,
  name: string,
  ref: VersionRef,
  /** Whether the call is an inference (metadata lookups are not counted as failed inferences). */
  inference: boolean,
  fn: (v: LoadedVersion) => Promise<T>,
): Promise<T> {
  const lease: Lease = await app.models.acquire(name, ref);
  const started = performance.now();
  try {
    return await fn(lease.version);
  } catch (err) {
    if (inference) app.metrics.stats.failure(lease.version.name, lease.version.version, (performance.now() - started) * 1e6);
    if (err instanceof OverloadedError) app.metrics.observeRejection(lease.version.name, lease.version.version, err.reason);
    throw err;
  } finally {
    lease.release();
  }
}

/**
 * leaseModel for an HTTP route: records the version for metrics, and a request the scheduler turns
 * away gets Retry-After with its 503.
 */
export async function withModel<T>(
  app: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  name: string,
  ref: VersionRef,
  fn: (v: LoadedVersion) => Promise<T>,
): Promise<T> {
  try {
    // POST routes are the inference routes.
    return await leaseModel(app, name, ref, request.method === 'POST', (v) => {
      request.served = { model: v.name, version: v.version };
      return fn(v);
    });
  } catch (err) {
    if (err instanceof OverloadedError) reply.header('retry-after', String(err.retryAfterSeconds));
    throw err;
  }
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

export async function predictRows(app: FastifyInstance, v: LoadedVersion, instances: readonly unknown[]): Promise<PredictResult> {
  assertTakesRows(v);
  const started = performance.now();
  const data = rowsToTensor(instances, { target: v.inputType, rowShape: v.rowShape, featureNames: v.record.featureNames });
  const decoded = performance.now();
  const result = await v.runRows(data, instances.length);
  const ran = performance.now();
  app.metrics.observeInference(v.name, v.version, result);
  const output = predictionOutput(v.record, v.outputs);
  const values = result.outputs[output.name];
  assertFiniteOutput(output.name, values);
  const predictions = v.record.task === 'classification' ? classPredictions(values, v.record.classLabels) : regressionPredictions(values);
  recordSuccess(app, v, instances.length, result, started, decoded, ran);
  return { predictions, model_version: v.version };
}

/**
 * Statistics extension, one successful request: success from the start of decoding its tensors
 * to its encoded outputs; queue and compute_infer from the batcher; compute_input the decoding;
 * compute_output the encoding (JSON numbers or binary parts).
 */
function recordSuccess(
  app: FastifyInstance,
  v: LoadedVersion,
  rows: number,
  result: BatchResult,
  started: number,
  decoded: number,
  ran: number,
) {
  const now = performance.now();
  app.metrics.stats.success(v.name, v.version, {
    rows,
    totalNs: (now - started) * 1e6,
    queueNs: result.queueSeconds * 1e9,
    inputNs: (decoded - started) * 1e6,
    inferNs: result.computeSeconds * 1e9,
    outputNs: (now - ran) * 1e6,
  });
}

type Parameters = Record<string, unknown> | undefined;

export interface InferRequestBody {
  id?: string;
  parameters?: Parameters;
  inputs: { name: string; shape: number[]; datatype: InputDatatype; data?: unknown[]; parameters?: Parameters }[];
  outputs?: { name: string; parameters?: Parameters }[];
}

export interface InferOutput {
  name: string;
  shape: number[];
  datatype: string;
  data?: number[];
  parameters?: { binary_data_size: number };
}

export interface InferResult {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: InferOutput[];
}

/** A response with binary outputs: the bytes to send and the JSON header's length. */
export interface BinaryInferResult {
  body: Buffer;
  headerLength: number;
}

/** Triton's per-request queue timeout: parameters.timeout in microseconds (only shortens the model's). */
function submitOptions(parameters: Parameters): SubmitOptions {
  const t = parameters?.timeout;
  if (t === undefined) return {};
  if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 0) {
    throw new InvalidInputError(`parameters.timeout: expected microseconds (a non-negative integer), got ${describeValue(t)}`);
  }
  return { timeoutMicroseconds: t };
}

/**
 * A binary data switch (the request's binary_data_output, an output's binary_data): a JSON boolean
 * or absent. Anything else ("true", 1) is a 400 that names the field, for both switches alike.
 */
function binaryFlag(parameters: Parameters, key: 'binary_data' | 'binary_data_output', where: string): boolean | undefined {
  const value = parameters?.[key];
  if (value === undefined || typeof value === 'boolean') return value;
  throw new InvalidInputError(`${where}.${key}: expected true or false, got ${describeValue(value)}`);
}

/** Whether each output is asked for as binary: its own binary_data, else the request's binary_data_output. */
function binaryRequested(body: InferRequestBody): (output: string) => boolean {
  const all = binaryFlag(body.parameters, 'binary_data_output', 'parameters') ?? false;
  const own = new Map<string, boolean>();
  body.outputs?.forEach((o, i) => {
    const flag = binaryFlag(o.parameters, 'binary_data', `outputs[${i}].parameters`);
    if (flag !== undefined) own.set(o.name, flag);
  });
  return (output) => own.get(output) ?? all;
}

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
  parameters?: Parameters;
  /** Runs once every input is decoded (the binary extension checks that no byte is left over). */
  afterDecode?: () => void;
}

/** One output tensor, as onnxruntime returned it. */
export interface TensorOutput {
  name: string;
  shape: number[];
  /** Open Inference Protocol datatype ("FP32", …). */
  datatype: string;
  data: OutputTensor['data'];
}

/**
 * Binds request inputs to model inputs by name. A single-input model also takes a single input
 * under another name ("input-0" in KServe's examples), as KServe's own runtimes do, unless
 * strictNames (BNSERVE_STRICT_INPUT_NAMES) asks for exact names.
 */
function bindInputs(
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

/** The output names to answer with, each a model output named once. */
function wantedOutputs(v: LoadedVersion, asked: readonly string[] | undefined): string[] {
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

/**
 * One Open Inference Protocol inference, whatever the protocol: binds and checks the inputs,
 * decodes them, runs them through the model's scheduler (batching), checks the outputs, and hands
 * them to `encode`; records metrics and statistics. Errors are domain errors for the caller's edge.
 */
export async function runTensors<R>(
  app: FastifyInstance,
  v: LoadedVersion,
  request: TensorRequest,
  encode: (outputs: TensorOutput[]) => R,
): Promise<R> {
  const wanted = wantedOutputs(v, request.outputs);
  const started = performance.now();
  const opts = submitOptions(request.parameters);
  const feeds: Record<string, { data: ElementArray; dims: number[] }> = {};
  // Binary data follows the order of the request's inputs array, so decode in that order.
  const bound = [...bindInputs(v, request.inputs, app.serveConfig.strictInputNames)].sort((a, b) => a[1].index - b[1].index);
  for (const [info, { index, input }] of bound) {
    const where = `inputs[${index}]`;
    checkShape(info, input.shape, where);
    feeds[info.name] = { data: input.decode(info.type as ModelElementType, where), dims: input.shape };
  }
  request.afterDecode?.();
  const decoded = performance.now();
  const result = await v.runFeeds(feeds, opts).catch((err: unknown) => {
    // Row models are fully checked above; several inputs can still disagree (e.g. batch sizes).
    if (v.takesRows || err instanceof BnserveError) throw err;
    throw new InvalidInputError(`the model rejected the inputs: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  });
  const ran = performance.now();
  app.metrics.observeInference(v.name, v.version, result);
  const outputs = wanted.map((name): TensorOutput => {
    const t = result.outputs[name];
    assertFiniteOutput(name, t);
    return { name, shape: [...t.dims], datatype: v2Datatype(t.type), data: t.data };
  });
  const answer = encode(outputs);
  recordSuccess(app, v, feeds[v.inputs[0].name].dims[0] ?? 1, result, started, decoded, ran);
  return answer;
}

/** The REST form of an inference: JSON tensor data, or the binary tensor extension's bytes. */
export async function inferTensors(
  app: FastifyInstance,
  v: LoadedVersion,
  body: InferRequestBody,
  /** The binary part of the body (binary tensor extension), when the request has one. */
  binary?: Buffer,
): Promise<InferResult | BinaryInferResult> {
  const wantsBinary = binaryRequested(body);
  // A JSON body of N bytes carries at most about N/2 numbers ("0,"): a cheap bound on claimed shapes.
  const maxElements = Math.ceil(app.serveConfig.limits.bodyLimit / 2);
  const reader = binary ? new BinaryReader(binary) : null;
  const inputs = body.inputs.map(
    (input): TensorInput => ({
      name: input.name,
      shape: input.shape,
      decode: (target, where) => {
        const size = binaryDataSize(input.parameters, where);
        if (size !== undefined) {
          if (!reader)
            throw new InvalidInputError(
              `${where}.parameters.binary_data_size is set but the request has no binary data (send Inference-Header-Content-Length)`,
            );
          if (input.data !== undefined) throw new InvalidInputError(`${where}: give either data or parameters.binary_data_size, not both`);
          return decodeBinaryTensor(reader.take(size, where), {
            datatype: input.datatype,
            shape: input.shape,
            target,
            where: `${where}.data`,
            sizeField: `${where}.parameters.binary_data_size`,
          });
        }
        if (input.data === undefined)
          throw new InvalidInputError(`${where}.data: required (or parameters.binary_data_size with binary data)`);
        return decodeTensorData(input.data, input.shape, { datatype: input.datatype, target, where: `${where}.data`, maxElements });
      },
    }),
  );
  const request: TensorRequest = {
    inputs,
    outputs: body.outputs?.map((o) => o.name),
    parameters: body.parameters,
    afterDecode: () => reader?.finish(),
  };
  return runTensors(app, v, request, (tensors) => {
    const parts: Buffer[] = [];
    const outputs = tensors.map(({ name, shape, datatype, data }): InferOutput => {
      if (wantsBinary(name)) {
        const bytes = tensorBytes(data);
        parts.push(bytes);
        return { name, shape, datatype, parameters: { binary_data_size: bytes.length } };
      }
      return { name, shape, datatype, data: toJsonNumbers(data) };
    });
    // id: echoed when the request has one, absent otherwise (the protocol makes it optional).
    const header = { model_name: v.name, model_version: String(v.version), ...(body.id !== undefined ? { id: body.id } : {}), outputs };
    return parts.length > 0 ? encodeBinaryResponse(header, parts) : header;
  });
}

/** Sends an inference result: JSON, or the binary extension's header + bytes. */
export function sendInferResult(reply: FastifyReply, result: InferResult | BinaryInferResult): FastifyReply | InferResult {
  if (!('body' in result)) return result;
  return reply.header(HEADER_LENGTH, String(result.headerLength)).type('application/octet-stream').send(result.body);
}

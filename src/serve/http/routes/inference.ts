// The REST edge of inference: leases for a route (Retry-After on 503), the v2 JSON body and the
// binary tensor extension around DataPlane.runTensors, and sending the result.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { activeServerTrace } from '../../../tracing/spans.ts';
import { OverloadedError } from '../../dataplane/batcher.ts';
import { LoadWaitError } from '../../dataplane/model-budget.ts';
import type { DataPlane } from '../../dataplane/data-plane.ts';
import { InvalidInputError } from '../../dataplane/errors.ts';
import type { RequestParameters, TensorInput, TensorRequest, VersionRef } from '../../dataplane/inference.ts';
import type { LoadedVersion } from '../../dataplane/loaded-version.ts';
import { decodeTensorData, describeValue, toJsonNumbers, type InputDatatype } from '../../dataplane/tensor-data.ts';
import { decodeBinaryTensor, tensorBytes } from '../../dataplane/tensor-bytes.ts';
import { BinaryReader, binaryDataSize, encodeBinaryResponse, HEADER_LENGTH } from '../binary-tensors.ts';

/**
 * Serialiser for the inference routes: plain JSON.stringify. Their responses are built by this
 * module with fixed shapes (typed above); validating them again with zod on every reply was a
 * measurable share of a request's CPU time. The zod schemas still document them in /docs.
 */
export const fastJson = () => (data: unknown) => JSON.stringify(data);

/**
 * DataPlane.lease for an HTTP route: records the version for metrics, and a request the scheduler turns
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
  const lease = () =>
    // POST routes are the inference routes.
    app.dataPlane.lease(name, ref, request.method === 'POST', (v) => {
      request.served = { model: v.name, version: v.version };
      request.trace?.served(v.name, v.version);
      return fn(v);
    });
  try {
    // Under the request's span, the scheduler's spans (queue wait, batch, onnxruntime run) are its children.
    return await (request.trace ? request.trace.run(lease) : lease());
  } catch (err) {
    if (err instanceof OverloadedError || err instanceof LoadWaitError) reply.header('retry-after', String(err.retryAfterSeconds));
    throw err;
  }
}

type Parameters = RequestParameters;

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

/** The REST form of an inference: JSON tensor data, or the binary tensor extension's bytes. */
export async function inferTensors(
  dataPlane: DataPlane,
  v: LoadedVersion,
  body: InferRequestBody,
  /** The binary part of the body (binary tensor extension), when the request has one. */
  binary?: Buffer,
  requestId?: string,
): Promise<InferResult | BinaryInferResult> {
  const wantsBinary = binaryRequested(body);
  // A JSON body of N bytes carries at most about N/2 numbers ("0,"): a cheap bound on claimed shapes.
  const maxElements = Math.ceil(dataPlane.config.limits.bodyLimit / 2);
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
    requestId,
  };
  const trace = activeServerTrace();
  trace?.rows(body.inputs[0]?.shape[0]);
  return dataPlane.runTensors(v, request, (tensors) => {
    // Ended once the response's bytes are ready (the tracing plugin's onSend).
    trace?.startEncoding();
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

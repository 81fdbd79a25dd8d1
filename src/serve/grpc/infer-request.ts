// A gRPC ModelInferRequest → the protocol-neutral TensorRequest, checked by the same schemas as
// REST's JSON body (names, shapes, datatypes, row limit), so both protocols refuse the same input.
import type { z } from 'zod';
import type { ServeLimits } from '../config.ts';
import { InvalidInputError } from '../dataplane/errors.ts';
import type { TensorInput, TensorRequest } from '../dataplane/inference.ts';
import { inferBody, modelName, versionNumber } from '../dataplane/request-schemas.ts';
import type { InputDatatype } from '../dataplane/tensor-data.ts';
import type { ModelInferRequest, ParameterMap } from './messages.ts';
import { decodeRawContents, decodeTypedContents } from './tensor-contents.ts';

/** "inputs.0.shape" issues → "inputs[0].shape: message" (at most three, as REST reports them). */
function describeIssues(error: z.ZodError, prefix = ''): string {
  const issues = error.issues.slice(0, 3).map((issue) => {
    const path = issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
    const where = prefix + path;
    return where ? `${where}: ${issue.message}` : issue.message;
  });
  const more = error.issues.length > 3 ? ` (and ${error.issues.length - 3} more)` : '';
  return issues.join('; ') + more;
}

/** The model and version a call names; an empty version means the default one (as in REST's routes without /versions). */
export function parseModelRef(name: string, version: string, fields = { name: 'name', version: 'version' }) {
  const model = modelName.safeParse(name);
  if (!model.success) throw new InvalidInputError(describeIssues(model.error, fields.name));
  if (version === '') return { model: model.data, version: undefined };
  const number = versionNumber.safeParse(version);
  if (!number.success) throw new InvalidInputError(describeIssues(number.error, fields.version));
  return { model: model.data, version: number.data };
}

/** InferParameter messages as plain values (int64 and uint64 as a number when it is exact). */
export function plainParameters(map: ParameterMap): Record<string, unknown> | undefined {
  const entries = Object.entries(map);
  if (entries.length === 0) return undefined;
  return Object.fromEntries(
    entries.map(([key, p]) => {
      const value = p.parameter_choice ? p[p.parameter_choice] : undefined;
      const integer = p.parameter_choice === 'int64_param' || p.parameter_choice === 'uint64_param';
      if (integer && Number.isSafeInteger(Number(value))) return [key, Number(value)];
      return [key, value];
    }),
  );
}

export interface ParsedInfer {
  model: string;
  version: number | undefined;
  /** Echoed in the response ('' when none). */
  id: string;
  tensors: TensorRequest;
  /** The inputs came as raw_input_contents: the outputs go back as raw_output_contents. */
  raw: boolean;
}

/** The request schema for each limits object, built once: building a zod schema costs more than checking a request. */
const schemas = new WeakMap<ServeLimits, ReturnType<typeof inferBody>>();
function inferSchema(limits: ServeLimits): ReturnType<typeof inferBody> {
  let schema = schemas.get(limits);
  if (!schema) {
    schema = inferBody(limits);
    schemas.set(limits, schema);
  }
  return schema;
}

export function parseInferRequest(message: ModelInferRequest, limits: ServeLimits): ParsedInfer {
  const { model, version } = parseModelRef(message.model_name, message.model_version, { name: 'model_name', version: 'model_version' });
  const header = inferSchema(limits).safeParse({
    ...(message.id !== '' ? { id: message.id } : {}),
    parameters: plainParameters(message.parameters),
    inputs: message.inputs.map((input) => ({
      name: input.name,
      shape: input.shape.map(Number),
      datatype: input.datatype,
      parameters: plainParameters(input.parameters),
    })),
    ...(message.outputs.length > 0
      ? { outputs: message.outputs.map((o) => ({ name: o.name, parameters: plainParameters(o.parameters) })) }
      : {}),
  });
  if (!header.success) throw new InvalidInputError(describeIssues(header.error));
  const raw = message.raw_input_contents;
  if (raw.length > 0) {
    if (raw.length !== message.inputs.length) {
      throw new InvalidInputError(
        `raw_input_contents has ${raw.length} entries for ${message.inputs.length} inputs: give one per input, in the order of inputs`,
      );
    }
    const typed = message.inputs.findIndex((input) => input.contents && Object.values(input.contents).some((v) => v.length > 0));
    if (typed >= 0) throw new InvalidInputError(`inputs[${typed}].contents: give either contents or raw_input_contents, not both`);
  }
  // A message of N bytes carries at most N one-byte elements (packed booleans, small varints).
  const maxElements = limits.bodyLimit;
  const inputs = header.data.inputs.map(
    (input, index): TensorInput => ({
      name: input.name,
      shape: input.shape,
      decode: (target, where) => {
        const opts = { datatype: input.datatype as InputDatatype, shape: input.shape, target, maxElements, where };
        return raw.length > 0 ? decodeRawContents(raw[index], index, opts) : decodeTypedContents(message.inputs[index].contents, opts);
      },
    }),
  );
  return {
    model,
    version,
    id: message.id,
    // The request's own id names it in the payload log (REST uses X-Request-Id); none: the log makes one.
    tensors: {
      inputs,
      outputs: header.data.outputs?.map((o) => o.name),
      parameters: header.data.parameters,
      requestId: message.id || undefined,
    },
    raw: raw.length > 0,
  };
}

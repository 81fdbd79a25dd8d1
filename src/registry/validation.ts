import { type BatchingOverride, checkBatchingOverride } from '../lib/batching.ts';
import { ALIAS, MODEL_NAME } from '../lib/names.ts';
import {
  MAX_LISTED_RUNS,
  RegistryError,
  type RegisterVersionInput,
  type RunFilter,
  TENSOR_DATATYPES,
  type TensorDatatype,
  type TensorSignature,
} from './types.ts';

function invalid(message: string): never {
  throw new RegistryError('invalid', message);
}

export function assertModelName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !MODEL_NAME.test(name)) {
    invalid(`invalid model name ${JSON.stringify(name)}: use letters, digits, ".", "_" and "-" (at most 64, not starting with a symbol)`);
  }
}

export function assertAlias(alias: unknown): asserts alias is string {
  if (typeof alias !== 'string' || !ALIAS.test(alias)) {
    invalid(`invalid alias ${JSON.stringify(alias)}: start with a letter, then letters, digits, ".", "_" or "-" (at most 64)`);
  }
}

export function assertVersionNumber(version: unknown): asserts version is number {
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    invalid(`invalid version ${JSON.stringify(version)}: expected a positive integer`);
  }
}

/** The override as it will be stored: only the knobs batchingOverrideSchema knows, within their ranges. */
export function parseBatchingOverride(value: unknown): BatchingOverride {
  const checked = checkBatchingOverride(value);
  if (checked.problem !== null) invalid(`invalid batching override: ${checked.problem}`);
  return checked.override;
}

function assertStringArray(value: unknown, what: string): void {
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) invalid(`${what} must be an array of strings`);
}

function assertSignatures(value: unknown, what: string): asserts value is TensorSignature[] {
  if (!Array.isArray(value) || value.length === 0) invalid(`${what} must be a non-empty array of tensor signatures`);
  for (const sig of value as unknown[]) {
    const s = sig as Partial<TensorSignature> | null;
    const okShape = Array.isArray(s?.shape) && s.shape.every((d) => Number.isInteger(d) && (d === -1 || d > 0));
    if (!s || typeof s.name !== 'string' || s.name === '' || !TENSOR_DATATYPES.includes(s.datatype as TensorDatatype) || !okShape) {
      invalid(`${what}: each signature needs a name, a datatype (${TENSOR_DATATYPES.join(', ')}) and a shape of positive integers or -1`);
    }
  }
}

export function assertRegisterVersionInput(input: RegisterVersionInput): void {
  assertModelName(input.name);
  if (input.runId !== null && (typeof input.runId !== 'string' || input.runId === '')) invalid('runId must be a run id or null');
  if (!(input.artifact instanceof Uint8Array) || input.artifact.byteLength === 0) invalid('artifact must be non-empty bytes');
  if (input.artifact.byteLength > 2 ** 31 - 1) invalid('artifact is larger than 2 GiB (the ONNX protobuf limit)');
  if (!Number.isInteger(input.opset) || input.opset < 1) invalid(`opset must be a positive integer, got ${input.opset}`);
  assertSignatures(input.inputs, 'inputs');
  assertSignatures(input.outputs, 'outputs');
  if (input.task !== 'classification' && input.task !== 'regression') invalid(`task must be "classification" or "regression"`);
  assertStringArray(input.classLabels, 'classLabels');
  assertStringArray(input.featureNames, 'featureNames');
  if (typeof input.parityMaxAbsDiff !== 'number' || !(input.parityMaxAbsDiff >= 0) || !Number.isFinite(input.parityMaxAbsDiff)) {
    invalid(`parityMaxAbsDiff must be a finite number ≥ 0, got ${input.parityMaxAbsDiff}`);
  }
  if (typeof input.folded !== 'boolean') invalid('folded must be a boolean');
  const warning = input.bnGuardWarning;
  if (warning !== undefined && warning !== null && (typeof warning !== 'string' || warning.trim() === '')) {
    invalid('bnGuardWarning must be a non-empty string or null');
  }
}

/** Plain JSON copy of a value for a Json column; rejects what JSON cannot hold (cycles, BigInt). */
export function toJsonValue(value: unknown, what: string): unknown {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? null : (JSON.parse(text) as unknown);
  } catch (error) {
    invalid(`${what} is not JSON-serialisable: ${(error as Error).message}`);
  }
}

const RUN_STATUSES: readonly string[] = ['running', 'succeeded', 'failed'];

/** Checks a listRuns filter (every registry implementation the same way); answers the row limit to apply. */
export function runFilterLimit(filter: RunFilter): number {
  if (filter.name !== undefined) assertModelName(filter.name);
  if (filter.status !== undefined && !RUN_STATUSES.includes(filter.status)) {
    throw new RegistryError('invalid', `status must be one of ${RUN_STATUSES.join(', ')}, got ${JSON.stringify(filter.status)}`);
  }
  const limit = filter.limit ?? MAX_LISTED_RUNS;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LISTED_RUNS) {
    throw new RegistryError('invalid', `limit must be an integer from 1 to ${MAX_LISTED_RUNS}, got ${limit}`);
  }
  return limit;
}

// The request schemas both protocols check (zod, no HTTP): model names and versions by the
// registry's own rules, and the Open Inference Protocol inference request (REST's JSON body; gRPC
// converts its ModelInferRequest to this form and checks it with the same schema).
import { z } from 'zod';
import { quoted } from '../../lib/quote.ts';
import { assertAlias, assertModelName } from '../../registry/validation.ts';
import type { ServeLimits } from '../config.ts';
import { INPUT_DATATYPES } from './tensor-data.ts';

const parameters = z.record(z.string(), z.unknown()).optional();

/** A string schema that accepts exactly what the registry's own check accepts, with its message. */
function registryRule(check: (value: unknown) => void, description: string) {
  return z
    .string()
    .superRefine((value, ctx) => {
      try {
        check(value);
      } catch (err) {
        // The registry quotes the value whole; a name in a body or a gRPC field has no URL length limit.
        const message = (err as Error).message.replace(JSON.stringify(value), quoted(value));
        ctx.addIssue({ code: 'custom', message, input: value });
      }
    })
    .meta({ description });
}

// The registry's rules, not a copy: a name the registry could never hold is a 400, a valid unknown one a 404.
export const modelName = registryRule(
  assertModelName,
  'Letters, digits, ".", "_" and "-"; at most 64 characters; starts with a letter or digit.',
);

export const versionNumber = z
  .string()
  .regex(/^[1-9][0-9]{0,9}$/, 'version must be a positive integer')
  .transform(Number);

export const aliasName = registryRule(assertAlias, 'Starts with a letter, then letters, digits, ".", "_" or "-"; at most 64 characters.');

/**
 * A JSON array zod checks as an array only, without visiting its elements (z.array(z.unknown())
 * visits every one: 784 calls per row of a 784-wide model). For tensor contents, which the decoder
 * checks element by element anyway, against the datatype and the model's element type.
 */
export function tensorValues(error: string) {
  return z.custom<unknown[]>((v) => Array.isArray(v), { error }).meta({ type: 'array', items: {} });
}

export function inferBody(limits: ServeLimits) {
  const input = z.object({
    name: z.string().min(1).max(200),
    shape: z
      .array(z.number().int().nonnegative())
      .min(1, 'shape must have at least one dimension')
      .max(8)
      .refine((s) => s[0] >= 1, 'the first (batch) dimension must be at least 1')
      .refine((s) => s[0] <= limits.maxRows, `the batch dimension is limited to ${limits.maxRows} rows per request`),
    datatype: z.enum(INPUT_DATATYPES),
    parameters: parameters.meta({
      description: 'binary_data_size: byte count of this input in the binary part of the body (binary tensor extension).',
    }),
    // Checked element by element (with the datatype and the model's type) when decoded, not here.
    data: tensorValues('data must be an array of numbers (flat or nested to match shape)')
      .refine((d) => d.length > 0, 'data is empty')
      .optional()
      .meta({
        description: 'Row-major tensor contents, flat or nested to match shape; omitted when parameters.binary_data_size is given.',
      }),
  });
  return z
    .object({
      id: z.string().max(256).optional(),
      parameters: parameters.meta({
        description: 'binary_data_output: true asks for every output as binary data; timeout: queue timeout in microseconds.',
      }),
      inputs: z
        .array(input, {
          error: (issue) =>
            issue.input === undefined
              ? 'inputs is required: {"inputs": [{"name", "shape", "datatype", "data"}]}'
              : 'inputs must be an array',
        })
        .min(1, 'inputs is empty')
        .max(64),
      outputs: z
        .array(z.object({ name: z.string().min(1), parameters }))
        .max(64)
        .optional(),
    })
    .meta({ description: 'Open Inference Protocol v2 inference request.' });
}

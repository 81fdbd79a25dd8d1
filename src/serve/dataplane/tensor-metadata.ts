// A tensor's name, Open Inference Protocol datatype and shape, as model metadata (REST and gRPC) and
// the dashboard's version view show it. zod only: the dashboard UI type-checks against this module.
import { z } from 'zod';

export const tensorMetadata = z.object({ name: z.string(), datatype: z.string(), shape: z.array(z.number()) });
export type TensorMetadata = z.infer<typeof tensorMetadata>;

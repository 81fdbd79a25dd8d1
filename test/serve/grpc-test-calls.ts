// gRPC calls for the limit tests: ModelInfer as a client of its own sends it; the hostile calls over
// raw HTTP/2 are the fault suite's (faults/harness/grpc-client.ts).
import * as grpc from '@grpc/grpc-js';
import { InferenceClient } from '../../faults/harness/grpc-client.ts';
import { IRIS_ROWS } from './fixtures.ts';

type UnaryMethod = (request: object, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null) => void) => void;

/** ModelInfer of `rows` Iris rows (raw FP32) to model iris on its own channel: the status code (0 = OK). */
export function modelInfer(address: string, rows: number): Promise<grpc.status> {
  const client = new InferenceClient(address, grpc.credentials.createInsecure());
  const data = Buffer.from(new Float32Array(Array.from({ length: rows }, (_, i) => IRIS_ROWS[i % IRIS_ROWS.length]).flat()).buffer);
  const request = { model_name: 'iris', inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, 4] }], raw_input_contents: [data] };
  return new Promise((resolve) => {
    (client as unknown as Record<string, UnaryMethod>).ModelInfer(request, { deadline: Date.now() + 30_000 }, (err) => {
      client.close();
      resolve(err ? err.code : grpc.status.OK);
    });
  });
}

export { MODEL_INFER, rawConnection, type StalledCallEnd, stalledCall } from '../../faults/harness/grpc-client.ts';

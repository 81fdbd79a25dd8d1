// Where onnxruntime runs: on the main thread (one instance), or in N worker threads, each with its
// own session, so that the main thread parses and answers requests while the model computes.
// onnxruntime-node's run() is synchronous on the calling thread (it only defers to setImmediate).
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { type ElementArray, type ModelElementType, v2Datatype } from './tensor-data.ts';
import type { Feed, OutputData, RunOutputs } from './tensors.ts';

export interface ModelRunner {
  /** Feeds in the model's input order. At most `instances` calls may be in flight. */
  run(feeds: readonly Feed[]): Promise<RunOutputs>;
  readonly instances: number;
  release(): Promise<void>;
}

export interface InputSpec {
  name: string;
  type: ModelElementType;
}

/** An output as onnxruntime hands it over (in this thread, or posted back by a worker). */
interface OrtOutput {
  type: string;
  dims: readonly number[];
  data: unknown;
}

/** onnxruntime's outputs as the data plane's OutputTensors (Open Inference Protocol datatypes). */
export function toOutputs(results: Readonly<Record<string, OrtOutput>>): RunOutputs {
  const out: RunOutputs = {};
  for (const [name, value] of Object.entries(results)) {
    out[name] = { name, datatype: v2Datatype(value.type), shape: [...value.dims], data: value.data as OutputData };
  }
  return out;
}

/** The session the version was loaded with, run on the main thread. */
export class InlineRunner implements ModelRunner {
  readonly instances = 1;
  constructor(
    private readonly session: ort.InferenceSession,
    private readonly inputs: readonly InputSpec[],
  ) {}

  async run(feeds: readonly Feed[]): Promise<RunOutputs> {
    const tensors: Record<string, ort.Tensor> = {};
    this.inputs.forEach((info, i) => {
      tensors[info.name] = new ort.Tensor(info.type, feeds[i].data, feeds[i].dims);
    });
    return toOutputs(await this.session.run(tensors));
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

// Plain JavaScript (no tsx in worker threads started from a registered loader), CommonJS via eval.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
let session;
parentPort.on('message', async (msg) => {
  try {
    if (msg.kind === 'load') {
      session = await ort.InferenceSession.create(msg.artifact, msg.options);
      parentPort.postMessage({ id: msg.id, ok: true });
      return;
    }
    if (msg.kind === 'release') {
      await session.release();
      parentPort.postMessage({ id: msg.id, ok: true });
      return;
    }
    const tensors = {};
    for (const f of msg.feeds) tensors[f.name] = new ort.Tensor(f.type, f.data, f.dims);
    const results = await session.run(tensors);
    const outputs = {};
    const transfer = [];
    for (const [name, t] of Object.entries(results)) {
      let data = t.data;
      if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) data = data.slice();
      outputs[name] = { type: t.type, dims: t.dims, data };
      transfer.push(data.buffer);
    }
    parentPort.postMessage({ id: msg.id, ok: true, outputs }, transfer);
  } catch (err) {
    parentPort.postMessage({ id: msg.id, ok: false, message: err && err.message ? err.message : String(err) });
  }
});
`;

interface Reply {
  id: number;
  ok: boolean;
  outputs?: Record<string, OrtOutput>;
  message?: string;
}

/** One worker thread holding one session; one request at a time. */
class SessionWorker {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private readonly worker: Worker;

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { ortPath: createRequire(import.meta.url).resolve('onnxruntime-node') },
    });
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => {
      const w = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      w?.resolve(reply);
    });
    this.worker.on('error', (err) => this.failAll(err));
    this.worker.on('exit', (code) => this.failAll(new Error(`onnxruntime worker exited with code ${code}`)));
  }

  private failAll(err: Error): void {
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }

  async call(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Reply> {
    const id = this.nextId++;
    const reply = await new Promise<Reply>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ ...message, id }, transfer);
    });
    if (!reply.ok) throw new Error(reply.message);
    return reply;
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

/** A buffer the worker may take over: a copy when the array is a view into a larger (pooled) buffer. */
function transferable(data: ElementArray): ElementArray {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer
    ? data
    : (data.slice() as ElementArray);
}

/** N worker threads, one session each; a run goes to any idle one. */
export class WorkerPoolRunner implements ModelRunner {
  private readonly idle: SessionWorker[];

  private constructor(
    private readonly workers: SessionWorker[],
    private readonly inputs: readonly InputSpec[],
  ) {
    this.idle = [...workers];
  }

  get instances(): number {
    return this.workers.length;
  }

  /** Intra-op threads per worker when not configured: the cores shared out between instances. */
  static defaultIntraOpThreads(instances: number): number {
    return Math.max(1, Math.floor(availableParallelism() / instances));
  }

  static async start(
    artifact: Uint8Array,
    inputs: readonly InputSpec[],
    instances: number,
    options: ort.InferenceSession.SessionOptions,
  ): Promise<WorkerPoolRunner> {
    const workers = Array.from({ length: instances }, () => new SessionWorker());
    try {
      await Promise.all(workers.map((w) => w.call({ kind: 'load', artifact, options })));
    } catch (err) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw err;
    }
    return new WorkerPoolRunner(workers, inputs);
  }

  async run(feeds: readonly Feed[]): Promise<RunOutputs> {
    const worker = this.idle.pop();
    if (!worker) throw new Error('every onnxruntime worker is busy (the scheduler must not run more than instanceCount at once)');
    try {
      const sent = feeds.map((f, i) => ({
        name: this.inputs[i].name,
        type: this.inputs[i].type,
        data: transferable(f.data),
        dims: f.dims,
      }));
      const reply = await worker.call(
        { kind: 'run', feeds: sent },
        sent.map((f) => f.data.buffer as ArrayBuffer),
      );
      return toOutputs(reply.outputs!);
    } finally {
      this.idle.push(worker);
    }
  }

  async release(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.call({ kind: 'release' }).catch(() => {})));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

import * as ort from 'onnxruntime-node';
import type { ModelVersionRecord } from '../registry/types.ts';
import { OpportunisticBatcher, type BatchResult, type RunOutputs, type OutputTensor } from './batcher.ts';
import type { ExecutionProviderId, ProviderChain } from './providers.ts';
import { elementCount, isModelElementType, type ElementArray, type ModelElementType } from './tensor-data.ts';

export interface TensorInfo {
  name: string;
  /** onnxruntime element type, e.g. "float32". */
  type: string;
  /** -1 for dynamic dimensions. */
  shape: number[];
}

export interface LoadOptions {
  batching: { enabled: boolean; maxRows: number };
  sessionOptions?: Omit<ort.InferenceSession.SessionOptions, 'executionProviders'>;
}

export class ModelLoadError extends Error {
  constructor(
    message: string,
    /** 'signature': the graph cannot serve its registry row (permanent); 'warm-up': the first run failed. */
    readonly kind: 'signature' | 'warm-up' = 'signature',
  ) {
    super(message);
    this.name = 'ModelLoadError';
  }
}

function tensorInfo(meta: ort.InferenceSession.ValueMetadata): TensorInfo {
  if (!meta.isTensor) throw new ModelLoadError(`${meta.name} is not a tensor; only tensor inputs and outputs are served`);
  return { name: meta.name, type: meta.type, shape: meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) };
}

function toOutputs(results: ort.InferenceSession.ReturnType): RunOutputs {
  const out: RunOutputs = {};
  for (const [name, value] of Object.entries(results)) {
    out[name] = { type: value.type, dims: value.dims, data: value.data as OutputTensor['data'] };
  }
  return out;
}

/**
 * One registry version in an onnxruntime session, warmed up. Counts in-flight requests so that a
 * retired version (alias moved, unloaded) releases its session only after they have finished.
 */
export class LoadedVersion {
  private inflight = 0;
  private retired = false;
  private releasing: Promise<void> | null = null;
  private readonly batcher: OpportunisticBatcher | null;
  lastUsed = Date.now();

  private constructor(
    readonly record: ModelVersionRecord,
    private readonly session: ort.InferenceSession,
    readonly provider: ExecutionProviderId,
    readonly inputs: TensorInfo[],
    readonly outputs: TensorInfo[],
    readonly loadedAt: Date,
    batching: LoadOptions['batching'],
  ) {
    this.batcher =
      batching.enabled && this.batchable ? new OpportunisticBatcher((data, rows) => this.runOnce(data, rows), batching.maxRows) : null;
  }

  static async load(
    record: ModelVersionRecord,
    artifact: Uint8Array,
    providers: ProviderChain,
    options: LoadOptions,
  ): Promise<LoadedVersion> {
    const { session, provider } = await providers.createSession(artifact, options.sessionOptions);
    try {
      const inputs = session.inputMetadata.map(tensorInfo);
      const outputs = session.outputMetadata.map(tensorInfo);
      checkSignature(record, inputs, outputs);
      const loaded = new LoadedVersion(record, session, provider, inputs, outputs, new Date(), options.batching);
      await loaded.warmUp();
      return loaded;
    } catch (err) {
      await session.release().catch(() => {});
      throw err instanceof ModelLoadError
        ? err
        : new ModelLoadError(`warm-up failed: ${err instanceof Error ? err.message : String(err)}`, 'warm-up');
    }
  }

  get name(): string {
    return this.record.name;
  }

  get version(): number {
    return this.record.version;
  }

  get input(): TensorInfo {
    return this.inputs[0];
  }

  get inputType(): ModelElementType {
    return this.input.type as ModelElementType;
  }

  /** Shape of one row (input shape without the batch dimension); -1 where dynamic. */
  get rowShape(): number[] {
    return this.input.shape.slice(1);
  }

  get isReleased(): boolean {
    return this.releasing !== null;
  }

  get inflightRequests(): number {
    return this.inflight;
  }

  /** One input whose rows have a fixed shape: what :predict needs. */
  get takesRows(): boolean {
    return this.inputs.length === 1 && this.rowShape.every((d) => d >= 0);
  }

  /** Rows can be merged across requests: row input, and every tensor has a leading dynamic batch dimension. */
  private get batchable(): boolean {
    return this.takesRows && [...this.inputs, ...this.outputs].every((t) => t.shape.length >= 1 && t.shape[0] === -1);
  }

  /** Marks a request as in flight; call the returned function exactly once when it is done. */
  acquire(): () => void {
    if (this.retired) throw new Error(`model ${this.name} version ${this.version} has been retired`);
    this.inflight++;
    this.lastUsed = Date.now();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.inflight--;
      if (this.retired && this.inflight === 0) void this.releaseSession();
    };
  }

  /** Stops new requests; the session is released once the in-flight ones have finished. */
  retire(): Promise<void> {
    this.retired = true;
    if (this.inflight === 0) return this.releaseSession();
    return Promise.resolve();
  }

  /** Runs rows of the single model input (see takesRows), merged with concurrent requests when batching is on. */
  async runRows(data: ElementArray, rows: number): Promise<BatchResult> {
    if (this.batcher) return this.batcher.submit(data, rows);
    const start = performance.now();
    const outputs = await this.runOnce(data, rows);
    return { outputs, queueSeconds: 0, computeSeconds: (performance.now() - start) / 1000, batchRows: rows };
  }

  /** Runs named inputs as given (Open Inference Protocol requests with several inputs). */
  async runFeeds(feeds: Record<string, { data: ElementArray; dims: number[] }>): Promise<BatchResult> {
    if (this.takesRows) {
      const only = feeds[this.input.name];
      return this.runRows(only.data, only.dims[0]);
    }
    const start = performance.now();
    const tensors: Record<string, ort.Tensor> = {};
    for (const info of this.inputs) {
      const f = feeds[info.name];
      tensors[info.name] = new ort.Tensor(info.type as ModelElementType, f.data, f.dims);
    }
    const outputs = toOutputs(await this.session.run(tensors));
    return {
      outputs,
      queueSeconds: 0,
      computeSeconds: (performance.now() - start) / 1000,
      batchRows: feeds[this.input.name]?.dims[0] ?? 0,
    };
  }

  private async runOnce(data: ElementArray, rows: number): Promise<RunOutputs> {
    const dims = [rows, ...this.rowShape];
    const feeds = { [this.input.name]: new ort.Tensor(this.inputType, data, dims) };
    return toOutputs(await this.session.run(feeds));
  }

  private async warmUp(): Promise<void> {
    const feeds: Record<string, ort.Tensor> = {};
    for (const info of this.inputs) {
      const dims = info.shape.map((d) => (d === -1 ? 1 : d));
      const n = elementCount(dims);
      const type = info.type as ModelElementType;
      const data =
        type === 'int64'
          ? new BigInt64Array(n)
          : type === 'int32'
            ? new Int32Array(n)
            : type === 'float64'
              ? new Float64Array(n)
              : new Float32Array(n);
      feeds[info.name] = new ort.Tensor(type, data, dims);
    }
    await this.session.run(feeds);
  }

  private releaseSession(): Promise<void> {
    this.releasing ??= this.session.release().catch(() => {});
    return this.releasing;
  }
}

/** Rejects artifacts the server could not answer correctly for, before they replace a working version. */
function checkSignature(record: ModelVersionRecord, inputs: TensorInfo[], outputs: TensorInfo[]): void {
  if (inputs.length === 0) throw new ModelLoadError('the model has no inputs');
  if (outputs.length === 0) throw new ModelLoadError('the model has no outputs');
  for (const t of inputs) {
    if (!isModelElementType(t.type))
      throw new ModelLoadError(`input ${t.name} has element type ${t.type}; served types are float32, float64, int32, int64`);
    if (t.shape.length === 0) throw new ModelLoadError(`input ${t.name} is a scalar; a batch dimension is required`);
  }
  const first = inputs[0];
  const features = first.shape.slice(1);
  if (record.featureNames.length > 0 && features.length === 1 && features[0] !== -1 && features[0] !== record.featureNames.length) {
    throw new ModelLoadError(
      `input ${first.name} has ${features[0]} features but the registry lists ${record.featureNames.length} feature names`,
    );
  }
  if (record.task === 'classification') {
    const probs = predictionOutput(record, outputs);
    const classes = probs.shape[1];
    if (record.classLabels.length > 0 && classes !== undefined && classes !== -1 && classes !== record.classLabels.length) {
      throw new ModelLoadError(`output ${probs.name} has ${classes} classes but the registry lists ${record.classLabels.length} labels`);
    }
  }
}

/** The output that :predict answers from: "probabilities" / "prediction" by contract, else the first. */
export function predictionOutput(record: Pick<ModelVersionRecord, 'task'>, outputs: readonly TensorInfo[]): TensorInfo {
  const wanted = record.task === 'classification' ? 'probabilities' : 'prediction';
  return outputs.find((o) => o.name === wanted) ?? outputs[0];
}

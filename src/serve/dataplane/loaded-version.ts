import type * as ort from 'onnxruntime-node';
import type { ModelVersionRecord } from '../../registry/types.ts';
import { DynamicBatcher, type BatchResult, type ExecutionTimings, type SubmitOptions } from './batcher.ts';
import { DEFAULT_BATCHING, type BatchingOptions } from '../config.ts';
import { InvalidInputError } from './errors.ts';
import { InlineRunner, WorkerPoolRunner, type ModelRunner } from './model-runner.ts';
import type { Feed } from './tensors.ts';
import { EXECUTION_PROVIDERS, type ExecutionProviderId, type ProviderChain, type ProviderName } from './providers.ts';
import { scanMetadata } from '../../export/onnx/metadata-scan.ts';
import { readWarmup, type WarmupSample } from '../../export/onnx/warmup.ts';
import {
  decodeTensorData,
  elementCount,
  firstNonFinite,
  isModelElementType,
  type ElementArray,
  type ModelElementType,
} from './tensor-data.ts';

export interface TensorInfo {
  name: string;
  /** onnxruntime element type, e.g. "float32". */
  type: string;
  /** -1 for dynamic dimensions. */
  shape: number[];
}

export interface LoadOptions {
  /** Settings, or a lookup by model name read at every scheduling decision (live overrides). */
  batching: (Partial<BatchingOptions> & { /** old name of maxBatchSize */ maxRows?: number }) | ((model: string) => BatchingOptions);
  sessionOptions?: Omit<ort.InferenceSession.SessionOptions, 'executionProviders'>;
  /** Called once per onnxruntime run, after it, with its rows, the number of requests merged into it, and (when it succeeded) its timings. */
  onBatch?: (model: string, version: number, rows: number, requests: number, timings?: ExecutionTimings) => void;
}

/**
 * What a loaded version is estimated to hold: its artifact size, replaced by the growth of the
 * process's resident memory (RSS) over the load when that is larger (a session holds the weights,
 * the graph and its arenas; RSS over a load is noisy when other loads run at once, hence the floor).
 */
export interface MemoryEstimate {
  artifactBytes: number;
  /** RSS after the load and warm-up minus RSS before (0 when it shrank). */
  loadRssBytes: number;
  /** max(artifactBytes, loadRssBytes): what the memory budget counts. */
  estimateBytes: number;
}

export function memoryEstimate(artifactBytes: number, rssBefore: number, rssAfter: number): MemoryEstimate {
  const loadRssBytes = Math.max(0, rssAfter - rssBefore);
  return { artifactBytes, loadRssBytes, estimateBytes: Math.max(artifactBytes, loadRssBytes) };
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

function providerName(id: ExecutionProviderId): ProviderName {
  return (Object.keys(EXECUTION_PROVIDERS) as ProviderName[]).find((name) => EXECUTION_PROVIDERS[name] === id) ?? 'cpu';
}

function settingsLookup(batching: LoadOptions['batching'], model: string): () => BatchingOptions {
  if (typeof batching === 'function') return () => batching(model);
  const { maxRows, ...rest } = batching;
  const fixed = { ...DEFAULT_BATCHING, ...(maxRows !== undefined ? { maxBatchSize: maxRows } : {}), ...rest };
  return () => fixed;
}

let useCounter = 0;

/**
 * One registry version in an onnxruntime session, warmed up. Counts in-flight requests so that a
 * retired version (alias moved, unloaded) releases its session only after they have finished.
 */
export class LoadedVersion {
  private inflight = 0;
  private retired = false;
  private releasing: Promise<void> | null = null;
  private readonly batcher: DynamicBatcher;
  /** Rises with every acquire across all versions: least recently used first, without ties (the budget, on-demand versions). */
  useOrder = ++useCounter;
  /** Set once the load and warm-up are done (see memoryEstimate). */
  memory: MemoryEstimate;

  private constructor(
    readonly record: ModelVersionRecord,
    private readonly runner: ModelRunner,
    readonly provider: ExecutionProviderId,
    readonly inputs: TensorInfo[],
    readonly outputs: TensorInfo[],
    readonly loadedAt: Date,
    settings: () => BatchingOptions,
    onBatch?: LoadOptions['onBatch'],
  ) {
    const observe = onBatch
      ? (rows: number, requests: number, timings?: ExecutionTimings) => onBatch(record.name, record.version, rows, requests, timings)
      : undefined;
    this.batcher = new DynamicBatcher((feeds) => this.runner.run(feeds), settings, runner.instances, this.batchable, observe);
    this.memory = memoryEstimate(record.artifactSize, 0, 0);
  }

  static async load(
    record: ModelVersionRecord,
    artifact: Uint8Array,
    providers: ProviderChain,
    options: LoadOptions,
  ): Promise<LoadedVersion> {
    const rssBefore = process.memoryUsage.rss();
    const { session, provider } = await providers.createSession(artifact, options.sessionOptions);
    const settings = settingsLookup(options.batching, record.name);
    let runner: ModelRunner | null = null;
    try {
      const inputs = session.inputMetadata.map(tensorInfo);
      const outputs = session.outputMetadata.map(tensorInfo);
      checkSignature(record, inputs, outputs);
      const instances = settings().instanceCount;
      const specs = inputs.map((t) => ({ name: t.name, type: t.type as ModelElementType }));
      if (instances > 1) {
        // The main-thread session only served to read the signature and pick the provider.
        await session.release();
        runner = await WorkerPoolRunner.start(artifact, specs, instances, {
          ...options.sessionOptions,
          intraOpNumThreads: options.sessionOptions?.intraOpNumThreads ?? WorkerPoolRunner.defaultIntraOpThreads(instances),
          executionProviders: [providerName(provider)],
        });
      } else {
        runner = new InlineRunner(session, specs);
      }
      const loaded = new LoadedVersion(record, runner, provider, inputs, outputs, new Date(), settings, options.onBatch);
      await loaded.warmUp(warmupFeeds(artifact, inputs));
      loaded.memory = memoryEstimate(artifact.byteLength, rssBefore, process.memoryUsage.rss());
      return loaded;
    } catch (err) {
      await (runner ?? session).release().catch(() => {});
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

  /** Retired (alias moved, unloaded, evicted): takes no new request. */
  get isRetired(): boolean {
    return this.retired;
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

  /**
   * Requests can be merged: every input and output has a leading dynamic batch dimension, and the
   * inputs' other dimensions are fixed (so rows of different requests line up).
   */
  get batchable(): boolean {
    return (
      [...this.inputs, ...this.outputs].every((t) => t.shape.length >= 1 && t.shape[0] === -1) &&
      this.inputs.every((t) => t.shape.slice(1).every((d) => d >= 0))
    );
  }

  /** Requests waiting for an instance of this version (Triton's pending request count). */
  get queuedRequests(): number {
    return this.batcher.queued;
  }

  /** The 503 a new request would get because the queue is full, or null while there is room. */
  queueFullError(): Error | null {
    return this.batcher.queueFullError();
  }

  /** onnxruntime runs in progress for this version. */
  get runningBatches(): number {
    return this.batcher.busy;
  }

  /** Marks a request as in flight; call the returned function exactly once when it is done. */
  acquire(): () => void {
    if (this.retired) throw new Error(`model ${this.name} version ${this.version} has been retired`);
    this.inflight++;
    this.useOrder = ++useCounter;
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
  runRows(data: ElementArray, rows: number, opts?: SubmitOptions): Promise<BatchResult> {
    return this.batcher.submit([{ data, dims: [rows, ...this.rowShape] }], rows, opts);
  }

  /** Runs named inputs (Open Inference Protocol requests), merged with others when every tensor is batched. */
  runFeeds(feeds: Record<string, Feed>, opts?: SubmitOptions): Promise<BatchResult> {
    const ordered = this.inputs.map((info) => feeds[info.name]);
    const rows = ordered[0].dims[0];
    if (this.batchable) {
      const other = ordered.findIndex((f) => f.dims[0] !== rows);
      if (other > 0) {
        throw new InvalidInputError(
          `inputs "${this.inputs[0].name}" and "${this.inputs[other].name}" disagree on the batch dimension (${rows} vs ${ordered[other].dims[0]})`,
        );
      }
    }
    return this.batcher.submit(ordered, rows, opts);
  }

  /**
   * One run per instance, all at once, so that every worker has run the model before serving: on the
   * model's stored warm-up sample when it has one (its outputs must be finite), else on zeros.
   */
  private async warmUp(sample: Feed[] | null): Promise<void> {
    // Each run gets its own copy: a worker instance takes over (transfers) the buffers it is sent.
    const feeds = () => (sample ?? this.zeroFeeds()).map((f) => ({ ...f, data: f.data.slice() as typeof f.data }));
    const results = await Promise.all(Array.from({ length: this.runner.instances }, () => this.runner.run(feeds())));
    if (!sample) return;
    for (const [name, t] of Object.entries(results[0])) {
      if (firstNonFinite(t.data) >= 0) throw new ModelLoadError(`warm-up sample: output ${name} is not finite`, 'warm-up');
    }
  }

  private zeroFeeds(): Feed[] {
    return this.inputs.map((info) => {
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
      return { data, dims };
    });
  }

  private releaseSession(): Promise<void> {
    this.batcher.close();
    this.releasing ??= this.runner.release().catch(() => {});
    return this.releasing;
  }
}

/** The model's stored warm-up sample (bnserve_warmup metadata) as feeds in input order; null when it has none. */
function warmupFeeds(artifact: Uint8Array, inputs: readonly TensorInfo[]): Feed[] | null {
  let sample: WarmupSample | null;
  try {
    sample = readWarmup(scanMetadata(artifact));
  } catch (err) {
    throw new ModelLoadError(`warm-up sample unreadable: ${err instanceof Error ? err.message : String(err)}`, 'warm-up');
  }
  if (!sample) return null;
  return inputs.map((info) => {
    const given = sample.inputs.find((i) => i.name === info.name) ?? (inputs.length === 1 ? sample.inputs[0] : undefined);
    if (!given) throw new ModelLoadError(`warm-up sample has no input "${info.name}"`, 'warm-up');
    try {
      const data = decodeTensorData(given.data, given.shape, {
        datatype: given.datatype,
        target: info.type as ModelElementType,
        where: `warm-up input ${info.name}`,
        maxElements: Number.MAX_SAFE_INTEGER,
      });
      return { data, dims: given.shape };
    } catch (err) {
      throw new ModelLoadError(`warm-up sample: ${err instanceof Error ? err.message : String(err)}`, 'warm-up');
    }
  });
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

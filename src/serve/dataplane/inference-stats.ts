// Per model version inference statistics in Triton's shape (statistics extension,
// GET /v2/models/{m}/stats): counts and cumulative nanoseconds, fed by the inference path and
// by the batcher (one record per onnxruntime execution). Numbers only: no HTTP here.

export interface Duration {
  count: number;
  ns: number;
}

export interface RequestTimings {
  /** Rows in the request (Triton's inference_count counts rows). */
  rows: number;
  totalNs: number;
  queueNs: number;
  inputNs: number;
  inferNs: number;
  outputNs: number;
}

export interface ExecutionTimings {
  rows: number;
  inputNs: number;
  inferNs: number;
  outputNs: number;
}

interface BatchStats {
  compute_input: Duration;
  compute_infer: Duration;
  compute_output: Duration;
}

export interface VersionStats {
  last_inference: number;
  inference_count: number;
  execution_count: number;
  success: Duration;
  fail: Duration;
  queue: Duration;
  compute_input: Duration;
  compute_infer: Duration;
  compute_output: Duration;
  /** Response cache lookups that answered (Triton: cache_hit), and those that did not (cache_miss: lookup + insert). */
  cache_hit: Duration;
  cache_miss: Duration;
  batches: Map<number, BatchStats>;
}

const zero = (): Duration => ({ count: 0, ns: 0 });
const add = (d: Duration, ns: number) => {
  d.count++;
  d.ns += Math.round(ns);
};

function empty(): VersionStats {
  return {
    last_inference: 0,
    inference_count: 0,
    execution_count: 0,
    success: zero(),
    fail: zero(),
    queue: zero(),
    compute_input: zero(),
    compute_infer: zero(),
    compute_output: zero(),
    cache_hit: zero(),
    cache_miss: zero(),
    batches: new Map(),
  };
}

export class InferenceStats {
  private readonly byVersion = new Map<string, VersionStats>();

  private entry(model: string, version: number): VersionStats {
    const key = `${model}\0${version}`;
    let s = this.byVersion.get(key);
    if (!s) {
      s = empty();
      this.byVersion.set(key, s);
    }
    return s;
  }

  /** A request answered with outputs. */
  success(model: string, version: number, t: RequestTimings, now = Date.now()): void {
    const s = this.entry(model, version);
    s.last_inference = now;
    s.inference_count += t.rows;
    add(s.success, t.totalNs);
    add(s.queue, t.queueNs);
    add(s.compute_input, t.inputNs);
    add(s.compute_infer, t.inferNs);
    add(s.compute_output, t.outputNs);
  }

  /** A request answered from the response cache: a success that ran nothing (Triton counts it so too). */
  cacheHit(model: string, version: number, rows: number, lookupNs: number, totalNs: number, now = Date.now()): void {
    const s = this.entry(model, version);
    s.last_inference = now;
    s.inference_count += rows;
    add(s.success, totalNs);
    add(s.cache_hit, lookupNs);
  }

  /** A response cache lookup that found nothing, with the time to store the answer afterwards. */
  cacheMiss(model: string, version: number, ns: number): void {
    add(this.entry(model, version).cache_miss, ns);
  }

  /** A request that reached a model version and was answered with an error (bad input, overload, failed run). */
  failure(model: string, version: number, totalNs: number): void {
    add(this.entry(model, version).fail, totalNs);
  }

  /** One onnxruntime execution (possibly several merged requests). */
  execution(model: string, version: number, t: ExecutionTimings): void {
    const s = this.entry(model, version);
    s.execution_count++;
    let b = s.batches.get(t.rows);
    if (!b) {
      b = { compute_input: zero(), compute_infer: zero(), compute_output: zero() };
      s.batches.set(t.rows, b);
    }
    add(b.compute_input, t.inputNs);
    add(b.compute_infer, t.inferNs);
    add(b.compute_output, t.outputNs);
  }

  /** Recorded versions of a model (or of every model), sorted by name then version. */
  recorded(model?: string): { name: string; version: number }[] {
    return [...this.byVersion.keys()]
      .map((k) => {
        const [name, version] = k.split('\0');
        return { name, version: Number(version) };
      })
      .filter((k) => model === undefined || k.name === model);
  }

  /** One version's statistics in Triton's JSON shape (zeros when nothing was recorded yet). */
  json(model: string, version: number) {
    const s = this.byVersion.get(`${model}\0${version}`) ?? empty();
    return {
      name: model,
      version: String(version),
      last_inference: s.last_inference,
      inference_count: s.inference_count,
      execution_count: s.execution_count,
      inference_stats: {
        success: { ...s.success },
        fail: { ...s.fail },
        queue: { ...s.queue },
        compute_input: { ...s.compute_input },
        compute_infer: { ...s.compute_infer },
        compute_output: { ...s.compute_output },
        cache_hit: { ...s.cache_hit },
        cache_miss: { ...s.cache_miss },
      },
      batch_stats: [...s.batches.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([batch_size, b]) => ({
          batch_size,
          compute_input: { ...b.compute_input },
          compute_infer: { ...b.compute_infer },
          compute_output: { ...b.compute_output },
        })),
    };
  }
}

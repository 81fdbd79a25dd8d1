import { elementCount, type ElementArray } from './tensor-data.ts';

export interface OutputTensor {
  type: string;
  dims: readonly number[];
  data:
    | Float32Array
    | Float64Array
    | Int32Array
    | BigInt64Array
    | Uint8Array
    | Int8Array
    | Uint16Array
    | Int16Array
    | Uint32Array
    | BigUint64Array;
}
export type RunOutputs = Record<string, OutputTensor>;

/** Runs one [rows, ...] input through the model. */
export type Execute = (data: ElementArray, rows: number) => Promise<RunOutputs>;

export interface BatchResult {
  outputs: RunOutputs;
  /** Seconds between submit and the start of the run that served it. */
  queueSeconds: number;
  /** Seconds the (possibly shared) run took. */
  computeSeconds: number;
  /** Rows in that run, this request's and others'. */
  batchRows: number;
}

interface Pending {
  data: ElementArray;
  rows: number;
  submittedAt: number;
  resolve: (r: BatchResult) => void;
  reject: (e: unknown) => void;
}

const nowSeconds = () => performance.now() / 1000;

/**
 * Opportunistic batching: a request that finds the model idle runs at once (no timer, no waiting);
 * requests arriving while a run is busy queue up and go together in the next run, up to maxRows.
 * Only valid for models whose rows are independent (inference-mode BN, dense layers).
 */
export class OpportunisticBatcher {
  private readonly queue: Pending[] = [];
  private busy = false;

  constructor(
    private readonly execute: Execute,
    private readonly maxRows: number,
  ) {}

  get queued(): number {
    return this.queue.length;
  }

  submit(data: ElementArray, rows: number): Promise<BatchResult> {
    return new Promise<BatchResult>((resolve, reject) => {
      this.queue.push({ data, rows, submittedAt: nowSeconds(), resolve, reject });
      if (!this.busy) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.busy = true;
    try {
      while (this.queue.length > 0) {
        const group = this.takeGroup();
        await this.runGroup(group);
      }
    } finally {
      this.busy = false;
    }
  }

  private takeGroup(): Pending[] {
    const group = [this.queue.shift()!];
    let rows = group[0].rows;
    while (this.queue.length > 0 && rows + this.queue[0].rows <= this.maxRows) {
      const next = this.queue.shift()!;
      rows += next.rows;
      group.push(next);
    }
    return group;
  }

  private async runGroup(group: Pending[]): Promise<void> {
    const start = nowSeconds();
    const rows = group.reduce((n, p) => n + p.rows, 0);
    try {
      const input = group.length === 1 ? group[0].data : concatRows(group.map((p) => p.data));
      const outputs = await this.execute(input, rows);
      const computeSeconds = nowSeconds() - start;
      let offset = 0;
      for (const p of group) {
        const own = group.length === 1 ? outputs : sliceRows(outputs, offset, p.rows, rows);
        offset += p.rows;
        p.resolve({ outputs: own, queueSeconds: start - p.submittedAt, computeSeconds, batchRows: rows });
      }
    } catch (err) {
      for (const p of group) p.reject(err);
    }
  }
}

export function concatRows(parts: readonly ElementArray[]): ElementArray {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const Ctor = parts[0].constructor as new (n: number) => ElementArray;
  const out = new Ctor(total);
  let offset = 0;
  for (const part of parts) {
    // Same element type by construction (one model input); the cast only satisfies the union type.
    (out as Float32Array).set(part as Float32Array, offset);
    offset += part.length;
  }
  return out;
}

/** Rows [start, start+rows) of every output whose first dimension is the batch. */
export function sliceRows(outputs: RunOutputs, start: number, rows: number, totalRows: number): RunOutputs {
  const result: RunOutputs = {};
  for (const [name, t] of Object.entries(outputs)) {
    if (t.dims[0] !== totalRows)
      throw new Error(`output ${name} has no batch dimension (dims [${t.dims.join(', ')}]); cannot split a merged batch`);
    const perRow = elementCount(t.dims.slice(1));
    result[name] = { type: t.type, dims: [rows, ...t.dims.slice(1)], data: t.data.subarray(start * perRow, (start + rows) * perRow) };
  }
  return result;
}

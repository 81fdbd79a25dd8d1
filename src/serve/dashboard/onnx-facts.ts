// Facts the registry row does not hold but the exported ONNX graph does: its metadata (the BN guard's
// per-layer checks) and its standardisation constants (the training split's mean and std).
import { decodeModel, readMetadata } from '../../export/onnx/helpers.ts';
import type { OnnxTypes } from '../../export/onnx/proto.ts';

export interface OnnxFacts {
  metadata: Record<string, string>;
  /** Per input feature: the exporter's metadata, else a graph that starts with Sub(mean) → Div(std) on its input; null otherwise. */
  standardization: { mean: number[]; std: number[] } | null;
}

function floats(tensor: OnnxTypes.ITensorProto): number[] {
  if (tensor.floatData && tensor.floatData.length > 0) return [...tensor.floatData];
  const raw = tensor.rawData;
  if (!raw || raw.length % 4 !== 0) return [];
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  return Array.from({ length: raw.length / 4 }, (_, i) => view.getFloat32(i * 4, true));
}

function standardizationOf(graph: OnnxTypes.IGraphProto | null | undefined): OnnxFacts['standardization'] {
  const nodes = graph?.node ?? [];
  const inputName = graph?.input?.[0]?.name;
  const constants = new Map((graph?.initializer ?? []).map((t) => [t.name ?? '', t]));
  const sub = nodes.find((n) => n.opType === 'Sub' && n.input?.[0] === inputName);
  const div = sub && nodes.find((n) => n.opType === 'Div' && n.input?.[0] === sub.output?.[0]);
  const mean = sub && constants.get(sub.input?.[1] ?? '');
  const std = div && constants.get(div.input?.[1] ?? '');
  if (!mean || !std) return null;
  const m = floats(mean);
  const s = floats(std);
  return m.length > 0 && m.length === s.length ? { mean: m, std: s } : null;
}

/** The exporter's `standardization` metadata ({mean, std} of the training split), when present and well-formed. */
function standardizationFromMetadata(metadata: Record<string, string>): OnnxFacts['standardization'] {
  if (!Object.hasOwn(metadata, 'standardization')) return null;
  try {
    const { mean, std } = JSON.parse(metadata.standardization) as { mean?: unknown; std?: unknown };
    const numbers = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every(Number.isFinite);
    return numbers(mean) && numbers(std) && mean.length === std.length ? { mean, std } : null;
  } catch {
    return null;
  }
}

export function onnxFacts(bytes: Uint8Array): OnnxFacts {
  const model = decodeModel(bytes);
  const metadata = readMetadata(model);
  // A folded graph has no Sub/Div left on its input: its constants live in the weights and the metadata.
  return { metadata, standardization: standardizationFromMetadata(metadata) ?? standardizationOf(model.graph) };
}

/** Remembers the facts of the last few artifacts by sha256 (artifacts never change under their hash). */
export class OnnxFactsCache {
  private readonly entries = new Map<string, OnnxFacts>();

  constructor(private readonly capacity = 64) {}

  async get(sha256: string, read: () => Promise<Uint8Array>): Promise<OnnxFacts> {
    const hit = this.entries.get(sha256);
    if (hit) return hit;
    const facts = onnxFacts(await read());
    this.entries.set(sha256, facts);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
    return facts;
  }
}

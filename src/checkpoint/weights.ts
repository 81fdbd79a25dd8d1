// weights.bin as the manifest describes it: float32 values, little-endian, group after group.
import path from 'node:path';
import { CheckpointError } from './errors.ts';
import { readCheckpointFile } from './read-file.ts';
import type { WeightGroup } from './schemas.ts';

export type WeightTable = Map<string, { shape: number[]; values: Float64Array }>;

/** A weights file named by the manifest, refused when it points outside the checkpoint folder. */
export function weightPath(dir: string, relative: string): string {
  const full = path.resolve(dir, relative);
  if (path.dirname(full) !== path.resolve(dir)) throw new CheckpointError(`weight path ${relative} points outside the checkpoint`);
  return full;
}

/** The bytes of one manifest group: its files, concatenated in order. */
export async function readWeightGroup(dir: string, group: Pick<WeightGroup, 'paths'>): Promise<Buffer> {
  return Buffer.concat(await Promise.all(group.paths.map((p) => readCheckpointFile(weightPath(dir, p)))));
}

/** Every weight by name, in float64; the files must hold exactly the manifest's unquantized float32 values. */
export async function readWeights(dir: string, groups: WeightGroup[]): Promise<WeightTable> {
  const table: WeightTable = new Map();
  for (const group of groups) {
    const data = await readWeightGroup(dir, group);
    let offset = 0;
    for (const spec of group.weights) {
      if ((spec.dtype ?? 'float32') !== 'float32' || spec.quantization) {
        throw new CheckpointError(`weight ${spec.name}: only unquantized float32 weights are supported`);
      }
      const count = spec.shape.reduce((a, b) => a * b, 1);
      const end = offset + count * 4;
      if (end > data.length)
        throw new CheckpointError(`weights file too short: ${spec.name} needs bytes ${offset}..${end}, have ${data.length}`);
      const values = new Float64Array(count);
      for (let i = 0; i < count; i++) values[i] = data.readFloatLE(offset + i * 4);
      if (table.has(spec.name)) throw new CheckpointError(`duplicate weight name ${spec.name} in the manifest`);
      table.set(spec.name, { shape: spec.shape, values });
      offset = end;
    }
    if (offset !== data.length) throw new CheckpointError(`weights file has ${data.length - offset} unexpected trailing bytes`);
  }
  return table;
}

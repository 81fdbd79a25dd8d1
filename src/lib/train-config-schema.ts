// The training config's schema (config.json, as `bnserve train --config` takes it and a checkpoint
// stores it resolved) and its types: the one definition, on the bottom floor so that the trainer
// (src/train) and the checkpoint format (src/checkpoint) both read it without one depending on the
// other. Pure: zod only, no tfjs, no files (src/train/config.ts loads and resolves a config file).
import { z } from 'zod';
import { BN_GUARD_DEFAULTS, BN_LAYER_DEFAULTS } from './bn.ts';
import { MODEL_NAME } from './names.ts';

export const activationSchema = z.enum(['linear', 'relu', 'relu6', 'sigmoid', 'tanh', 'elu', 'softplus', 'softmax']);
export type Activation = z.infer<typeof activationSchema>;

/**
 * Kernel regularisers follow the Keras/tfjs convention: l1·Σ|w| + l2·Σw².
 * `weightDecay` is the TF1 `tf.nn.l2_loss` convention, weightDecay·Σw²/2, and is added to l2 as weightDecay/2.
 */
export const regularizerSchema = z
  .object({
    l1: z.number().nonnegative().default(0),
    l2: z.number().nonnegative().default(0),
    weightDecay: z.number().nonnegative().default(0),
  })
  .strict();
export type RegularizerSpec = z.infer<typeof regularizerSchema>;

/** Kernel initialisers; `zeros` is the Adaline's start (the tutorial's w = 0), the others are the usual random ones. */
export const initializerSchema = z.enum(['glorotUniform', 'glorotNormal', 'heUniform', 'heNormal', 'zeros']);
export type InitializerName = z.infer<typeof initializerSchema>;

const positiveInt = z.number().int().positive();
/** Units or filters of one layer; the whole model is bounded separately (see layer-shapes.ts). */
export const MAX_LAYER_WIDTH = 65536;
const layerWidth = positiveInt.max(MAX_LAYER_WIDTH);
const kernelSize = z.union([positiveInt, z.tuple([positiveInt, positiveInt])]);
const padding = z.enum(['same', 'valid']);

const denseLayer = z
  .object({
    type: z.literal('dense'),
    units: layerWidth,
    activation: activationSchema.default('linear'),
    useBias: z.boolean().default(true),
    /** Default glorotUniform. */
    kernelInitializer: initializerSchema.optional(),
    /** Overrides the model-wide kernelRegularizer for this layer ({} switches it off here). */
    kernelRegularizer: regularizerSchema.optional(),
  })
  .strict();
const conv2dLayer = z
  .object({
    type: z.literal('conv2d'),
    filters: layerWidth,
    kernelSize,
    strides: kernelSize.default(1),
    padding: padding.default('same'),
    activation: activationSchema.default('linear'),
    useBias: z.boolean().default(true),
    /** Default glorotUniform. */
    kernelInitializer: initializerSchema.optional(),
    kernelRegularizer: regularizerSchema.optional(),
  })
  .strict();
const poolLayer = (type: 'maxPool2d' | 'avgPool2d') =>
  z
    .object({
      type: z.literal(type),
      poolSize: kernelSize.default(2),
      strides: kernelSize.optional(),
      padding: padding.default('valid'),
    })
    .strict();
const bnMomentum = z.number().gt(0).lt(1);
/** TF1's (and the tutorial's) `decay` is Keras's `momentum`: accepted as an alias, never both. */
function decayAsMomentum(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null || !('decay' in raw) || (raw as { type?: unknown }).type !== 'batchNormalization') return raw;
  const { decay, ...rest } = raw as Record<string, unknown>;
  if ('momentum' in rest) return { ...rest, momentum: rest.momentum, decay };
  return { ...rest, momentum: decay };
}
const batchNormLayer = z
  .object({
    type: z.literal('batchNormalization'),
    /** Keras calls it momentum, TF1 calls it decay (both keys are accepted): moving ← decay·moving + (1−decay)·batch. */
    momentum: bnMomentum.default(BN_LAYER_DEFAULTS.momentum),
    /** Only ever set when both keys were given (see decayAsMomentum), which is refused. */
    decay: z.never({ error: 'give either "decay" or "momentum" (the same thing under its TF1 and Keras names), not both' }).optional(),
    epsilon: z.number().positive().default(BN_LAYER_DEFAULTS.epsilon),
    center: z.boolean().default(BN_LAYER_DEFAULTS.center),
    scale: z.boolean().default(BN_LAYER_DEFAULTS.scale),
  })
  .strict();
const activationLayer = z.object({ type: z.literal('activation'), activation: activationSchema }).strict();
const dropoutLayer = z.object({ type: z.literal('dropout'), rate: z.number().min(0).lt(1) }).strict();
const flattenLayer = z.object({ type: z.literal('flatten') }).strict();

export const layerSchema = z.discriminatedUnion('type', [
  denseLayer,
  conv2dLayer,
  poolLayer('maxPool2d'),
  poolLayer('avgPool2d'),
  batchNormLayer,
  activationLayer,
  dropoutLayer,
  flattenLayer,
]);
export type LayerSpec = z.infer<typeof layerSchema>;

/**
 * Which rows, classes and feature columns to use, and an optional mapping of labels to numbers
 * (e.g. setosa → −1, everything else → +1 for an Adaline). Rows are 0-based data rows (the header
 * is not a row), `end` exclusive; classes keep only the rows with those labels.
 */
const selection = {
  rows: z
    .object({ start: z.number().int().nonnegative().default(0), end: positiveInt.optional() })
    .strict()
    .optional(),
  classes: z.array(z.string().min(1)).min(1).optional(),
  /** Label → number; "*" is every other label. Makes the target numeric: use it with task "regression". */
  labelMap: z.record(z.string().min(1), z.number()).optional(),
};
const csvSource = z
  .object({
    kind: z.literal('csv'),
    /** Relative paths are resolved against the config file's folder. */
    path: z.string().min(1),
    labelColumn: z.string().min(1),
    featureColumns: z.array(z.string().min(1)).min(1).optional(),
    ...selection,
  })
  .strict();
const irisSource = z
  .object({
    kind: z.literal('iris'),
    /** Columns of examples/data/iris.csv: sepal_length, sepal_width, petal_length, petal_width. */
    featureColumns: z.array(z.string().min(1)).min(1).optional(),
    ...selection,
  })
  .strict();
const syntheticSource = z
  .object({
    kind: z.literal('synthetic'),
    samples: positiveInt.default(600),
    features: positiveInt.default(8),
    classes: z.number().int().min(2).default(3),
    /** When set, each sample is an image [height, width, channels] instead of a feature vector. */
    image: z.object({ height: positiveInt, width: positiveInt, channels: positiveInt }).strict().optional(),
    noise: z.number().nonnegative().default(0.5),
    /** Raw features get this scale and offset, so that standardisation matters. */
    scale: z.number().positive().default(1),
    offset: z.number().default(0),
    seed: z.number().int().default(7),
  })
  .strict();
export const dataSourceSchema = z.discriminatedUnion('kind', [csvSource, irisSource, syntheticSource]);
export type DataSource = z.infer<typeof dataSourceSchema>;
export type TabularSource = Extract<DataSource, { kind: 'csv' | 'iris' }>;

/** train 1 (validation 0, test 0) trains on every row: the evaluation sections are then omitted. */
const splitSchema = z
  .object({
    train: z.number().gt(0).max(1).default(0.7),
    validation: z.number().min(0).lt(1).default(0.15),
    test: z.number().min(0).lt(1).default(0.15),
    seed: z.number().int().default(42),
    stratify: z.boolean().default(true),
  })
  .strict()
  .refine((s) => Math.abs(s.train + s.validation + s.test - 1) < 1e-9, {
    message: 'train + validation + test must add up to 1',
  });

const optimizerSchema = z
  .object({
    type: z.enum(['sgd', 'momentum', 'adam']).default('adam'),
    learningRate: z.number().positive().default(0.01),
    momentum: z.number().min(0).lt(1).default(0.9),
    decay: z
      .object({
        type: z.enum(['exponential', 'step']),
        /** exponential: lr·rate^(epoch/every); step: lr·rate^floor(epoch/every). */
        rate: z.number().gt(0).max(1),
        every: positiveInt.default(1),
      })
      .strict()
      .optional(),
  })
  .strict();

const earlyStoppingSchema = z
  .object({
    monitor: z.enum(['valLoss', 'valAccuracy']).default('valLoss'),
    patience: positiveInt.default(10),
    minDelta: z.number().nonnegative().default(0),
    restoreBest: z.boolean().default(true),
  })
  .strict();

export const trainConfigSchema = z
  .object({
    name: z.string().regex(MODEL_NAME, 'letters, digits, ".", "_" and "-" (at most 64)').default('model'),
    task: z.enum(['classification', 'regression']).default('classification'),
    data: dataSourceSchema,
    split: splitSchema.default({ train: 0.7, validation: 0.15, test: 0.15, seed: 42, stratify: true }),
    standardize: z.boolean().default(true),
    /** Hidden layers; the output layer (softmax or linear) is added by the trainer, so [] is softmax/linear regression (an Adaline). */
    layers: z.preprocess((raw) => (Array.isArray(raw) ? raw.map(decayAsMomentum) : raw), z.array(layerSchema)),
    /** The output layer the trainer adds (softmax for classification, identity for regression). */
    output: z
      .object({
        kernelInitializer: initializerSchema.default('glorotUniform'),
        /** Overrides the model-wide kernelRegularizer for the output layer ({} switches it off here). */
        kernelRegularizer: regularizerSchema.optional(),
      })
      .strict()
      .default({ kernelInitializer: 'glorotUniform' }),
    /** Model-wide default regulariser for every Dense/Conv kernel (the output layer's included) that does not set its own. */
    kernelRegularizer: regularizerSchema.optional(),
    /**
     * Regression loss: "mse" (mean of e², the default) or "sse" (½·Σe² over the batch, the Adaline
     * tutorial's cost, whose learning rates transfer). Classification always uses cross-entropy.
     */
    loss: z.enum(['mse', 'sse']).default('mse'),
    optimizer: optimizerSchema.default({ type: 'adam', learningRate: 0.01, momentum: 0.9 }),
    epochs: positiveInt.default(100),
    /** "full": one batch of every training row per epoch (batch gradient descent). */
    batchSize: z.union([positiveInt, z.literal('full')]).default(32),
    earlyStopping: earlyStoppingSchema.optional(),
    seed: z.number().int().default(1),
    backend: z.enum(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'),
    /** When the BatchNormalization moving statistics are flagged as stale (warned, and recorded with the export). */
    bnGuard: z
      .object({
        /** momentum^steps of any BN layer above this: too much of the initial 0/1 left. */
        maxResidual: z.number().gt(0).lt(1).default(BN_GUARD_DEFAULTS.maxResidual),
        /** |moving mean − data mean| in data standard deviations, on the training split. */
        maxMeanGap: z.number().positive().default(BN_GUARD_DEFAULTS.maxMeanGap),
        /** max(moving var / data var, data var / moving var) on the training split. */
        maxVarianceRatio: z.number().gt(1).default(BN_GUARD_DEFAULTS.maxVarianceRatio),
      })
      .strict()
      .default({ ...BN_GUARD_DEFAULTS }),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.loss === 'sse' && config.task !== 'regression') {
      ctx.addIssue({ code: 'custom', path: ['loss'], message: '"sse" is a regression loss; classification uses cross-entropy' });
    }
    const source = config.data;
    if (source.kind !== 'synthetic' && source.labelMap && config.task !== 'regression') {
      ctx.addIssue({
        code: 'custom',
        path: ['data', 'labelMap'],
        message: 'labelMap turns labels into numbers, which is a regression target: set "task": "regression"',
      });
    }
    if (config.earlyStopping && config.split.validation === 0) {
      ctx.addIssue({ code: 'custom', path: ['earlyStopping'], message: 'early stopping needs a validation split (split.validation > 0)' });
    }
  });
export type TrainConfig = z.infer<typeof trainConfigSchema>;

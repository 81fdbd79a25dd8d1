import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { reportError } from './commands/errors.ts';
import { PRODUCTION_ALIAS } from './lib/names.ts';

function integer(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed)) throw new InvalidArgumentError('expected an integer');
  return parsed;
}

function integerIn(min: number, max: number, what: string) {
  return (value: string): number => {
    const parsed = integer(value);
    if (parsed < min || parsed > max) throw new InvalidArgumentError(`${what} must be between ${min} and ${max}`);
    return parsed;
  };
}

const port = integerIn(0, 65535, 'a port');

// No default here: the server reads HOST and PORT (src/settings.ts) when the option is absent.
const hostOption = () => new Option('--host <host>', 'address to listen on (default: $HOST, else 127.0.0.1)');
const portOption = () => new Option('--port <port>', 'port to listen on, 0..65535 (default: $PORT, else 8080)').argParser(port);
/** A grid of n×n points; 2 is the least that spans a range, 1000 (a million points) is plenty for an SVG. */
const resolution = integerIn(2, 1000, 'the resolution');

function positiveNumber(value: string): number {
  const parsed = Number(value);
  if (!(parsed > 0)) throw new InvalidArgumentError('expected a positive number');
  return parsed;
}

function agreementFraction(value: string): number {
  const parsed = Number(value);
  if (!(parsed >= 0 && parsed <= 1)) throw new InvalidArgumentError('expected a number between 0 and 1');
  return parsed;
}

// --precision and --min-agreement, shared by export, register and import (docs/export.md#precision).
const precisionOption = () =>
  new Option(
    '--precision <precision>',
    'weight precision of the artifact (default fp32; int8: dynamic quantization of Gemm/MatMul; fp16)',
  ).choices(['fp32', 'int8', 'fp16']);
const minAgreementOption = () =>
  new Option('--min-agreement <x>', 'reduced precision: smallest top-1 agreement with fp32 (default 0.99)').argParser(agreementFraction);

type AccuracyLine = { precision?: string; accuracy?: { agreement: number; maxAbsDiff: number; rows: number } | null };

/** The accuracy gate's measurement, for a reduced precision. */
function accuracyLines(result: AccuracyLine): string[] {
  const a = result.accuracy;
  if (!a) return [];
  return [
    `precision ${result.precision}: top-1 agreement with fp32 ${(a.agreement * 100).toFixed(2)}% on ${a.rows} rows, ` +
      `max |${result.precision} − fp32| = ${a.maxAbsDiff.toExponential(2)}`,
  ];
}

/** What export and register print: their own first line, the parity measured, the exporter's warnings. */
function exportSummary(first: string, result: { parityMaxAbsDiff: number; warnings: string[] } & AccuracyLine): string {
  return [
    first,
    `parity: max |onnx − tfjs| = ${result.parityMaxAbsDiff.toExponential(2)}`,
    ...accuracyLines(result),
    ...result.warnings.map((w) => `warning: ${w}`),
  ].join('\n');
}

function print(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);
}

async function withRegistry<T>(
  fn: (registry: import('./registry/types.ts').Registry) => Promise<T>,
  createDatabase: import('./registry/index.ts').OpenRegistryOptions['createDatabase'] = 'first-start',
): Promise<T> {
  const { openRegistry, staleRunMs } = await import('./registry/index.ts');
  const registry = await openRegistry({ createDatabase });
  try {
    // Every command that opens the registry settles runs whose trainer died (no heartbeat).
    await registry.failStaleRuns(staleRunMs());
    return await fn(registry);
  } finally {
    await registry.close();
  }
}

const program = new Command('bnserve')
  .description('Train Batch-Normalized networks, export them to ONNX with BN folded, and serve them.')
  .showHelpAfterError()
  .configureOutput({ outputError: (text, write) => write(text) })
  // Argument errors throw (exit 2, like other bad input) instead of exiting 1; subcommands inherit this.
  .exitOverride();

program
  .command('train')
  .description('train a model from a config, write its checkpoint, export and register it')
  .requiredOption('--config <file>', 'training config (JSON, see examples/)')
  .option('--data <csv>', 'CSV file replacing the config’s data.path')
  .option('--name <name>', 'model name (default: the config’s name)')
  .option('--seed <n>', 'random seed', integer)
  .option('--out <dir>', 'checkpoint folder (default: data/checkpoints/<name>/<run id>)')
  .option('--no-export', 'stop after the checkpoint: no ONNX export, no model version')
  .option('--json', 'print one JSON object on stdout')
  .action(async (options) => {
    const { prepareTraining, runPreparedTraining } = await import('./commands/train.ts');
    const { describeTraining } = await import('./commands/describe.ts');
    const prepared = await prepareTraining(options);
    const result = await withRegistry((registry) => runPreparedTraining(prepared, options, registry));
    print(options.json, result, describeTraining(result));
  });

program
  .command('export')
  .description('export a checkpoint to ONNX (BN folded) and check it against the trained model')
  .requiredOption('--checkpoint <dir>', 'checkpoint folder written by `bnserve train`')
  .requiredOption('--out <file>', 'ONNX file to write (an existing one only with --force)')
  .option('--force', 'replace an existing --out file')
  .option('--no-fold', 'keep BatchNormalization nodes (for comparison and debugging)')
  .option('--opset <n>', 'ONNX opset', integer, 17)
  .option('--tolerance <x>', 'largest allowed |ONNX − tfjs| on probabilities', positiveNumber)
  .option('--triton-repo <dir>', 'also write <dir>/<name>/config.pbtxt and <dir>/<name>/<version>/model.onnx (Triton model repository)')
  .option('--triton-version <n>', 'Triton version folder (default 1)', integerIn(1, Number.MAX_SAFE_INTEGER, 'the version'))
  .addOption(
    new Option('--triton-kind <kind>', 'Triton instance kind (default: from BNSERVE_EXECUTION_PROVIDERS)').choices(['auto', 'cpu', 'gpu']),
  )
  .option('--name <name>', 'model name in the Triton repository (default: the checkpoint config’s name)')
  .addOption(precisionOption())
  .addOption(minAgreementOption())
  .option('--json', 'print one JSON object on stdout')
  .action(async (options) => {
    const { runExportCommand } = await import('./commands/export.ts');
    const { describeTritonExport } = await import('./commands/triton-export.ts');
    const result = await runExportCommand(options);
    const line = `wrote ${result.out} (${result.bytes} bytes, opset ${result.opset}, ${result.folded ? 'BN folded' : 'BN not folded'})`;
    const text = exportSummary(line, result);
    print(options.json, result, result.triton ? `${text}\n${describeTritonExport(result.triton)}` : text);
  });

program
  .command('register')
  .description('export a checkpoint (BN folded), check it against the trained model, and register it as a new version')
  .requiredOption('--checkpoint <dir>', 'checkpoint folder written by `bnserve train` (also with --no-export)')
  .option('--name <name>', 'model name (default: the checkpoint config’s name)')
  .option('--no-fold', 'keep BatchNormalization nodes (for comparison and debugging)')
  .option('--opset <n>', 'ONNX opset', integer, 17)
  .option('--tolerance <x>', 'largest allowed |ONNX − tfjs| on probabilities', positiveNumber)
  .addOption(precisionOption())
  .addOption(minAgreementOption())
  .option('--json', 'print one JSON object on stdout')
  .action(async (options) => {
    const { checkOpset, runRegisterCommand } = await import('./commands/register.ts');
    await checkOpset(options.opset); // before the registry is opened
    const result = await withRegistry((registry) => runRegisterCommand(options, registry));
    const line = `registered ${result.name} version ${result.version} (${result.folded ? 'BN folded' : 'BN not folded'}, opset ${result.opset}, ${result.precision}, run ${result.runId ?? 'none'})`;
    print(options.json, result, exportSummary(line, result));
  });

program
  .command('import')
  .description(
    'register an ONNX model exported from PyTorch or Keras: refuse training-mode BN, flag untrained statistics, fold every BN, prove parity',
  )
  .argument('<model>', 'the .onnx file (opset 13–21, every tensor inside the file)')
  .requiredOption('--name <name>', 'model name to register a new version of')
  .option(
    '--sample <file>',
    'real inputs (.npy, .csv or .json) for the parity check and the BN drift check (default: 16 seeded random rows)',
  )
  .option('--tolerance <x>', 'largest allowed |folded − original| relative to max(1, |output|) (default 1e-4)', positiveNumber)
  .addOption(new Option('--task <task>', 'how :predict presents the first output').choices(['regression', 'classification']))
  .option('--labels <list>', 'comma-separated class labels (with --task classification)', (v: string) => v.split(','))
  .option('--alias <alias>', 'move this alias to the new version')
  .option('--force', 'move --alias even to a version the BN guard flagged')
  .addOption(precisionOption())
  .addOption(minAgreementOption())
  .option('--json', 'print one JSON object on stdout')
  .action(async (model, options) => {
    const { describeImport, runImportCommand } = await import('./commands/import.ts');
    const result = await withRegistry((registry) => runImportCommand({ ...options, model }, registry));
    print(options.json, result, describeImport(result));
  });

program
  .command('predict')
  .description('score a CSV or JSONL file with a registered version: the server’s answers, streamed into a file')
  .argument('<model>', 'NAME, NAME:VERSION or NAME@ALIAS (NAME alone: the version the server answers with)')
  .requiredOption('--input <file>', 'rows to score: CSV with a header naming the features, or JSONL (one instance per line)')
  .requiredOption('--output <file>', 'predictions file to write (an existing one only with --force)')
  .addOption(
    new Option('--format <format>', 'output format (default: from the --output extension, else the input’s)').choices(['csv', 'jsonl']),
  )
  .addOption(
    new Option('--input-format <format>', 'input format (default: from the --input extension, else its first character)').choices([
      'csv',
      'jsonl',
    ]),
  )
  .option('--batch-size <n>', 'rows per onnxruntime run (1..1000000, default 1024)', integerIn(1, 1_000_000, 'the batch size'))
  .option('--id-column <name>', 'column (or JSONL field) passed through as each prediction’s id (default: "id" when present)')
  .option('--force', 'replace an existing --output file')
  .option('--no-progress', 'no progress bar (shown only when stderr is a terminal)')
  .option('--json', 'print one JSON object on stdout')
  .action(async (model, options) => {
    const { describePredict, loadPredictModel, preparePredict, runPredict } = await import('./commands/predict.ts');
    const plan = await preparePredict(model, options);
    const loaded = await withRegistry((registry) => loadPredictModel(registry, plan), 'never');
    const result = await runPredict(plan, loaded);
    print(options.json, result, describePredict(result));
  });

program
  .command('tune')
  .description('sweep dynamic batching settings for a model on this machine: req/s, p50, p99 and rows per run for each, and the best')
  .argument('<model>', 'NAME, NAME:VERSION or NAME@ALIAS (NAME alone: the version the server answers with)')
  .option('--p99-ms <ms>', 'latency target: the best setting keeps p99 at or under it at every concurrency (default: none)', positiveNumber)
  .option('--concurrency <list>', 'concurrent clients to measure at, comma-separated (default 1,8,32)')
  .option(
    '--budget-s <s>',
    'upper bound on the whole run in seconds; settings that do not fit are skipped and listed (default 120)',
    integerIn(10, 86_400, 'the budget'),
  )
  .option('--window-s <s>', 'measured seconds per setting and concurrency (1..60, default 2)', integerIn(1, 60, 'the window'))
  .option('--warmup-s <s>', 'unmeasured load before each window (1..60, default 1)', integerIn(1, 60, 'the warm-up'))
  .option('--rows <n>', 'rows per request (1..4096, default 1)', integerIn(1, 4096, 'rows per request'))
  .option('--apply', 'store the best setting as the model’s batching override in the registry (servers apply it on their next poll)')
  .option('--json', 'print one JSON object on stdout')
  .action(async (model, options) => {
    const { describeTune, NO_SETTING_EXIT_CODE, prepareTune, runTune, tuneJson } = await import('./commands/tune.ts');
    const plan = await prepareTune(model, options);
    const progress = options.json ? undefined : (line: string) => process.stderr.write(`bnserve: tune: ${line}\n`);
    const result = await withRegistry((registry) => runTune(registry, plan, progress), 'never');
    print(options.json, tuneJson(result), await describeTune(result));
    if (result.report.best === null) process.exitCode = NO_SETTING_EXIT_CODE;
    if (result.report.stoppedBy !== null) {
      // The in-process server is stuck on the setting that stopped the sweep and would keep this process alive.
      await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
      process.exit(process.exitCode ?? 0);
    }
  });

program
  .command('report')
  .description('plot cost per epoch and, for 2-feature classifiers (Adaline included), decision regions; or compare runs')
  .option('--checkpoint <dir>', 'checkpoint (or diverged run) folder written by `bnserve train`')
  .option('--runs <dirs>', 'several such folders, comma-separated: their cost curves side by side')
  .option('--overlay', 'with --runs: every run’s training cost in one chart instead of one panel each')
  .requiredOption('--out <file>', 'file to write (.svg, or .png)')
  .option('--format <svg|png>', 'image format (default: from the --out extension, else svg)')
  .option('--features <a,b>', 'two features for the decision regions (default: the two the first Dense layer weighs most)')
  .option('--resolution <n>', 'grid points per axis (2..1000)', resolution, 120)
  .option('--json', 'print one JSON object on stdout')
  .action(async (options) => {
    const { runReportCommand } = await import('./commands/report.ts');
    const result = await runReportCommand(options);
    print(
      options.json,
      result,
      `wrote ${result.out} (${result.format}, ${result.panels} panel(s), ${result.runs} run(s), ${result.epochs} epochs)`,
    );
  });

program
  .command('serve')
  .description('serve registered models over HTTP (Open Inference Protocol v2 and :predict)')
  .addOption(hostOption())
  .addOption(portOption())
  .option('--model-name <name>', 'KServe-native mode: the name to serve the --model-dir model under (no registry database)')
  .option('--model-dir <dir>', 'KServe-native mode: model.onnx, or <name>/<version>/model.onnx (default KServe path: /mnt/models)')
  .action(async (options) => {
    const { runServeCommand } = await import('./commands/serve.ts');
    await runServeCommand(options);
  });

program
  .command('start')
  .description('apply migrations, train the Iris example if nothing is registered, then serve')
  .addOption(hostOption())
  .addOption(portOption())
  .option('--config <file>', 'config trained when the registry is empty', 'examples/iris-bn.json')
  .action(async (options) => {
    const { runStartCommand } = await import('./commands/start.ts');
    await runStartCommand(options);
  });

program
  .command('migrate')
  .description('apply pending database migrations and exit')
  .option('--json', 'print one JSON object on stdout')
  .action(async (options) => {
    const started = performance.now();
    await withRegistry(async () => undefined, 'always');
    const seconds = (performance.now() - started) / 1000;
    print(options.json, { migrated: true, seconds }, `database is up to date (${seconds.toFixed(2)} s)`);
  });

const models = program.command('models').description('list, show and promote registered model versions');
models
  .command('list')
  .option('--json', 'print one JSON object on stdout')
  .action(async (options) => {
    const { modelsList } = await import('./commands/models.ts');
    const out = await withRegistry((registry) => modelsList(registry), 'never');
    print(options.json, out.json, out.text);
  });
models
  .command('show')
  .argument('<name>')
  .option('--json', 'print one JSON object on stdout')
  .action(async (name, options) => {
    const { modelsShow } = await import('./commands/models.ts');
    const out = await withRegistry((registry) => modelsShow(registry, name), 'never');
    print(options.json, out.json, out.text);
  });
models
  .command('promote')
  .argument('<name>')
  .argument('<version>', 'version number', integer)
  .addOption(new Option('--alias <alias>', 'alias to move').default(PRODUCTION_ALIAS))
  .option('--force', 'move the alias even to a version the BN guard flagged')
  .option('--json', 'print one JSON object on stdout')
  .action(async (name, version, options) => {
    const { modelsPromote } = await import('./commands/models.ts');
    const out = await withRegistry(
      (registry) => modelsPromote(registry, name, version, options.alias, { force: options.force === true }),
      'never',
    );
    print(options.json, out.json, out.text);
  });

models
  .command('triton-export')
  .description('write a registered version (artifact sha256 checked) into a Triton model repository')
  .argument('<name>')
  .argument('<version>', 'version number or alias')
  .requiredOption('--out <dir>', 'Triton model repository: writes <dir>/<name>/config.pbtxt and <dir>/<name>/<version>/model.onnx')
  .addOption(
    new Option('--triton-kind <kind>', 'Triton instance kind (default: from BNSERVE_EXECUTION_PROVIDERS)').choices(['auto', 'cpu', 'gpu']),
  )
  .option('--json', 'print one JSON object on stdout')
  .action(async (name, version, options) => {
    const { modelsTritonExport } = await import('./commands/triton-export.ts');
    const out = await withRegistry(
      (registry) => modelsTritonExport(registry, name, version, { out: options.out, kind: options.tritonKind }),
      'never',
    );
    print(options.json, out.json, out.text);
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Commander has printed its message (and the help); --help and --version end here with 0.
    process.exitCode = error.exitCode === 0 ? 0 : 2;
    if (process.exitCode !== 0 && process.argv.includes('--json')) process.stdout.write(`${JSON.stringify({ error: error.message })}\n`);
  } else {
    process.exitCode = reportError(error, process.argv.includes('--json'));
  }
}

import type { TrainCommandResult } from './train.ts';

function formatMetrics(values: Record<string, number>): string {
  return Object.entries(values)
    .map(([key, value]) => `${key} ${value.toFixed(4)}`)
    .join(', ');
}

/** Human summary of a training run for the terminal. */
export function describeTraining(result: TrainCommandResult): string {
  const lines = [
    `run ${result.runId}: ${result.name} trained on "${result.backend}" for ${result.epochs} epochs (best ${result.bestEpoch}), ${Math.round(result.samplesPerSecond)} samples/s`,
    // No test split (split.train 1): no test line rather than an empty one.
    ...(Object.keys(result.test).length > 0 ? [`test: ${formatMetrics(result.test)}`] : []),
    ...(result.bnGuard
      ? [`batch norm: ${result.bnSteps} update steps, ${(result.bnGuard.residual * 100).toPrecision(2)}% of the initial statistics left`]
      : []),
    `checkpoint: ${result.checkpoint}`,
  ];
  if (result.model) {
    lines.push(
      `registered ${result.model.name} version ${result.model.version} (sha256 ${result.model.sha256.slice(0, 12)}…, ` +
        `${result.model.folded ? 'BN folded' : result.bnGuard ? 'BN not folded' : 'no BN'}, parity max |onnx − tfjs| ${result.model.parityMaxAbsDiff.toExponential(2)})`,
    );
  }
  for (const warning of result.warnings) lines.push(`warning: ${warning}`);
  return lines.join('\n');
}

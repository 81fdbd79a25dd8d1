/**
 * Errors the user can act on print their message alone, with an exit code per kind:
 * 2 bad input (config, data, arguments), 3 export or parity refused (an unreadable checkpoint included), 4 registry (missing
 * model/version, integrity), 5 training diverged; anything else is a bug and prints its stack.
 */
const exitCodes: Record<string, number> = {
  ConfigError: 2,
  DataError: 2,
  ExportError: 3,
  CheckpointError: 3,
  RegistryError: 4,
  TrainingError: 5,
};

export function reportError(error: unknown, json: boolean): number {
  const err = error instanceof Error ? error : new Error(String(error));
  const code = exitCodes[err.name];
  if (json) process.stdout.write(`${JSON.stringify({ error: err.message })}\n`);
  process.stderr.write(code ? `bnserve: error: ${err.message}\n` : `bnserve: unexpected error: ${err.stack ?? err.message}\n`);
  return code ?? 1;
}

// `npm run bench [name…]`: runs the named benchmarks (all by default), each printing its own
// numbers and ratios measured in this one run.
const benches: Record<string, () => Promise<void>> = {
  train: async () => (await import('./train-backends.ts')).benchTrainBackends(),
  'export-latency': async () => (await import('./export-latency.ts')).benchExportLatency(),
  'serve-load': async () => (await import('./serve-load.ts')).benchServeLoad(),
  'serve-ceiling': async () => (await import('./serve-ceiling.ts')).benchServeCeiling(),
  'serve-cli': async () => (await import('./serve-cli.ts')).benchServeCli(),
  startup: async () => (await import('./startup.ts')).benchStartup(),
  'queue-full': async () => (await import('./queue-full.ts')).benchQueueFull(),
  tracing: async () => (await import('./tracing-overhead.ts')).benchTracingOverhead(),
};

// Names only: "--option value" pairs belong to the benchmarks themselves.
const wanted = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'));
for (const name of wanted.length > 0 ? wanted : Object.keys(benches)) {
  const bench = benches[name];
  if (!bench) {
    console.error(`unknown benchmark "${name}"; available: ${Object.keys(benches).join(', ')}`);
    process.exit(2);
  }
  await bench();
}

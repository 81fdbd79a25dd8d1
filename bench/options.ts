// Command-line options of the benchmarks: `--name value` pairs after the benchmark names.

/** The value after `--name`, or the fallback. */
export function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

// Prisma's schema engine compiled to WebAssembly, driven through a driver adapter: the native
// engine cannot be downloaded on offline machines, this one ships on npm.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import * as bindings from '@prisma/schema-engine-wasm/schema_engine_bg';
import type { SchemaEngine } from '@prisma/schema-engine-wasm';
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';

export type { SchemaEngine };

let wasmReady: Promise<void> | undefined;

// The engine arms JS timers (e.g. a 10 s advisory-lock timeout on PostgreSQL) and never clears them,
// which keeps Node alive 10 s after the work is done: track them, clear them when no engine is busy.
const engineTimers = new Set<ReturnType<typeof setTimeout>>();
let busyEngines = 0;

function trackedSetTimeout(callback: () => void, ms: number) {
  const timer = setTimeout(() => {
    engineTimers.delete(timer);
    callback();
  }, ms >>> 0);
  engineTimers.add(timer);
  return timer;
}

function engineImports(): WebAssembly.ModuleImports {
  const imports: WebAssembly.ModuleImports = {};
  for (const [name, value] of Object.entries(bindings)) {
    imports[name] = name.startsWith('__wbg_setTimeout_') ? trackedSetTimeout : (value as WebAssembly.ImportValue);
  }
  return imports;
}

// The package's own entry does `import * as wasm from "./x.wasm"`, which Node 20 cannot load:
// instantiate the module by hand with the bindings file as its import object, once per process.
function loadWasm(): Promise<void> {
  wasmReady ??= (async () => {
    const require = createRequire(import.meta.url);
    const wasmPath = require.resolve('@prisma/schema-engine-wasm').replace(/schema_engine\.js$/, 'schema_engine_bg.wasm');
    const module = await WebAssembly.compile(await readFile(wasmPath));
    const instance = await WebAssembly.instantiate(module, { './schema_engine_bg.js': engineImports() });
    bindings.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
  })();
  return wasmReady;
}

/** Wraps a factory so that every connection the engine opens can be disposed afterwards. */
function trackConnections(factory: SqlMigrationAwareDriverAdapterFactory) {
  const opened: SqlDriverAdapter[] = [];
  const tracked: SqlMigrationAwareDriverAdapterFactory = {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: async () => {
      const adapter = await factory.connect();
      opened.push(adapter);
      return adapter;
    },
    connectToShadowDb: async () => {
      const adapter = await factory.connectToShadowDb();
      opened.push(adapter);
      return adapter;
    },
  };
  const disposeAll = async () => {
    await Promise.allSettled(opened.splice(0).map((adapter) => adapter.dispose()));
  };
  return { tracked, disposeAll };
}

export interface EngineLogLine {
  level?: string;
  fields?: { message?: string };
}

/** Runs fn with a schema engine bound to the adapter; frees the engine and its connections afterwards. */
export async function withSchemaEngine<T>(
  schema: { path: string; content: string },
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  fn: (engine: SchemaEngine) => Promise<T>,
  onLog: (line: EngineLogLine) => void = () => {},
): Promise<T> {
  await loadWasm();
  busyEngines++;
  try {
    return await runEngine(schema, adapterFactory, fn, onLog);
  } finally {
    if (--busyEngines === 0) {
      for (const timer of engineTimers) clearTimeout(timer);
      engineTimers.clear();
    }
  }
}

async function runEngine<T>(
  schema: { path: string; content: string },
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  fn: (engine: SchemaEngine) => Promise<T>,
  onLog: (line: EngineLogLine) => void,
): Promise<T> {
  const { tracked, disposeAll } = trackConnections(adapterFactory);
  const log = (raw: string) => {
    try {
      onLog(JSON.parse(raw) as EngineLogLine);
    } catch {
      onLog({ fields: { message: raw } });
    }
  };
  const engine = await bindings.SchemaEngine.new(
    { datamodels: [[schema.path, schema.content]] },
    log,
    bindMigrationAwareSqlAdapterFactory(tracked),
  );
  try {
    return await fn(engine);
  } finally {
    engine.free();
    await disposeAll();
  }
}

/** The engine rejects with plain objects or strings; turn them into a readable message. */
export function engineErrorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'string') return error;
  if (error && typeof error === 'object' && 'message' in error) return String((error as { message: unknown }).message);
  return JSON.stringify(error);
}

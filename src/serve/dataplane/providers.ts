import * as ort from 'onnxruntime-node';

/** Short names accepted in BNSERVE_EXECUTION_PROVIDERS, and the names onnxruntime reports. */
export const EXECUTION_PROVIDERS = {
  cpu: 'CPUExecutionProvider',
  cuda: 'CUDAExecutionProvider',
  tensorrt: 'TensorrtExecutionProvider',
  webgpu: 'WebGpuExecutionProvider',
  dml: 'DmlExecutionProvider',
  coreml: 'CoreMLExecutionProvider',
} as const;

export type ProviderName = keyof typeof EXECUTION_PROVIDERS;
export type ExecutionProviderId = (typeof EXECUTION_PROVIDERS)[ProviderName];

const SHORT_BY_LOWER_NAME = new Map<string, ProviderName>();
for (const [short, long] of Object.entries(EXECUTION_PROVIDERS) as [ProviderName, string][]) {
  SHORT_BY_LOWER_NAME.set(short, short);
  SHORT_BY_LOWER_NAME.set(long.toLowerCase(), short);
}

/**
 * Parses "cuda,cpu" (or full names such as "CUDAExecutionProvider"). Unknown names are an error here
 * because onnxruntime would silently drop them and we would then report a provider we do not use.
 */
export function parseProviderList(text: string): ProviderName[] {
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new Error('execution provider list is empty (expected e.g. "cuda,cpu")');
  const result: ProviderName[] = [];
  for (const name of names) {
    const short = SHORT_BY_LOWER_NAME.get(name.toLowerCase());
    if (!short) {
      throw new Error(`unknown execution provider "${name}" (known: ${Object.keys(EXECUTION_PROVIDERS).join(', ')})`);
    }
    if (!result.includes(short)) result.push(short);
  }
  return result;
}

/** onnxruntime reads its log level when its environment starts (the first session), so set it first. */
export function setOrtLogLevel(level: ort.Env['logLevel']): void {
  ort.env.logLevel = level;
}

export interface ProviderFailure {
  provider: ProviderName;
  message: string;
}

export interface SessionWithProvider {
  session: ort.InferenceSession;
  /** The provider that the session was created with first in its list, i.e. the one really in use. */
  provider: ExecutionProviderId;
  /** Providers tried before it, with the reason each failed. */
  failures: ProviderFailure[];
}

export interface CreateSessionOptions {
  sessionOptions?: Omit<ort.InferenceSession.SessionOptions, 'executionProviders'>;
  /** Called once per failed provider before the next one is tried. */
  onFallback?: (failure: ProviderFailure, next: ProviderName) => void;
}

export class SessionCreateError extends Error {
  constructor(
    message: string,
    readonly failures: ProviderFailure[],
  ) {
    super(message);
    this.name = 'SessionCreateError';
  }
}

/**
 * Creates an onnxruntime session with the first provider in `providers` that works.
 * onnxruntime-node throws (rather than falling back) when a provider's libraries are missing,
 * so each provider is tried with the rest of the list behind it.
 */
export async function createSessionWithFallback(
  model: Uint8Array,
  providers: readonly ProviderName[],
  options: CreateSessionOptions = {},
): Promise<SessionWithProvider> {
  if (providers.length === 0) throw new SessionCreateError('no execution provider configured', []);
  const failures: ProviderFailure[] = [];
  for (let i = 0; i < providers.length; i++) {
    const provider = providers[i];
    try {
      const session = await ort.InferenceSession.create(model, {
        ...options.sessionOptions,
        executionProviders: providers.slice(i),
      });
      return { session, provider: EXECUTION_PROVIDERS[provider], failures };
    } catch (err) {
      const failure = { provider, message: err instanceof Error ? err.message : String(err) };
      failures.push(failure);
      const next = providers[i + 1];
      if (next !== undefined) options.onFallback?.(failure, next);
    }
  }
  const last = failures[failures.length - 1];
  const tried = failures.map((f) => f.provider).join(', ');
  throw new SessionCreateError(`could not create an onnxruntime session (tried ${tried}): ${last.message}`, failures);
}

/**
 * Remembers providers that failed while a later one worked (missing libraries, no device), so
 * later sessions skip them and the fallback is logged once per process rather than once per model.
 */
export class ProviderChain {
  private readonly unavailable = new Map<ProviderName, string>();

  constructor(
    readonly requested: readonly ProviderName[],
    private readonly log: (message: string, failure: ProviderFailure) => void = () => {},
  ) {}

  /** The requested providers minus those known to be unavailable. */
  get effective(): ProviderName[] {
    const left = this.requested.filter((p) => !this.unavailable.has(p));
    return left.length > 0 ? left : [...this.requested];
  }

  get unavailableProviders(): ReadonlyMap<ProviderName, string> {
    return this.unavailable;
  }

  async createSession(model: Uint8Array, sessionOptions?: CreateSessionOptions['sessionOptions']): Promise<SessionWithProvider> {
    const result = await createSessionWithFallback(model, this.effective, { sessionOptions });
    for (const failure of result.failures) {
      if (this.unavailable.has(failure.provider)) continue;
      this.unavailable.set(failure.provider, failure.message);
      this.log(`execution provider ${failure.provider} is unavailable, using ${result.provider}: ${failure.message}`, failure);
    }
    return result;
  }
}

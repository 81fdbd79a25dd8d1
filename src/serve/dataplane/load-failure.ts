// Why a model version did not load: a short reason anyone may read, and whether retrying can help.
import { stat } from 'node:fs/promises';
import { ArtifactMissingError, RegistryError } from '../../registry/types.ts';
import { ModelLoadError } from './loaded-version.ts';
import { SessionCreateError } from './providers.ts';

export type LoadStage = 'fetch' | 'load';

export interface FailureKind {
  /** Short and safe to show unauthenticated callers: no paths, no stack, no internals. */
  reason: string;
  /**
   * True when the same bytes can never load (sha256 mismatch of present bytes, invalid ONNX, a graph
   * that disagrees with its registry row): polls stop trying until an admin load. Everything else is
   * retried with backoff.
   */
  permanent: boolean;
}

/** A registered artifact whose file is gone from the store (retried: it may be restored). */
export function isMissingArtifact(err: unknown): boolean {
  return err instanceof ArtifactMissingError;
}

function errnoCode(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? code : null;
}

export function classifyLoadFailure(err: unknown, stage: LoadStage): FailureKind {
  if (stage === 'fetch') {
    if (isMissingArtifact(err)) return { reason: 'artifact missing', permanent: false };
    if (err instanceof RegistryError) {
      if (err.code === 'integrity') return { reason: 'sha256 mismatch', permanent: true };
      if (err.code === 'not_found') return { reason: 'version not in the registry', permanent: false };
      if (err.code === 'unavailable') return { reason: 'registry unavailable', permanent: false };
    }
    const code = errnoCode(err);
    return { reason: code ? `artifact or registry read failed (${code})` : 'artifact or registry read failed', permanent: false };
  }
  if (err instanceof SessionCreateError) return { reason: 'invalid ONNX model (onnxruntime could not load it)', permanent: true };
  if (err instanceof ModelLoadError && err.kind === 'warm-up') return { reason: 'warm-up failed', permanent: false };
  if (err instanceof ModelLoadError) return { reason: 'model does not match its registry entry', permanent: true };
  return { reason: 'model failed to load', permanent: true };
}

/** Exponential backoff between retries of a transiently failing version: base · 2^(failures−1), capped. */
export function retryDelayMs(failures: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(failures - 1, 30)));
}

export interface LoadFailure {
  version: number;
  /** Full detail (may name files): for logs and authenticated admin answers only. */
  message: string;
  /** Short reason, safe for anyone: "artifact missing", "sha256 mismatch", … */
  reason: string;
  at: Date;
  /**
   * True when loading again cannot help (sha256 mismatch of present bytes, invalid ONNX, a graph that
   * disagrees with its registry row): polls skip the version until an admin load. False for missing
   * files, read errors, registry errors and warm-up failures: retried with backoff.
   */
  permanent: boolean;
  /** Failed attempts in a row. */
  attempts: number;
  /** When polls may try a transient failure again (null for permanent ones). */
  retryAt: Date | null;
  /**
   * The artifact file as it was at the failure (see fileStamp): when it changes (a file put back or
   * repaired), the next poll tries again at once, permanent failure or not.
   */
  artifact?: { path: string; stamp: string | null };
}

/** "version 3 failed to load: artifact missing (retrying)": short, no paths. */
export function describeFailure(f: LoadFailure): string {
  return `version ${f.version} failed to load: ${f.reason}${f.permanent ? '' : ' (retrying)'}`;
}

/** Identity and content stamp of a file (inode, size, mtime), or null when it does not exist. */
export async function fileStamp(file: string): Promise<string | null> {
  try {
    const s = await stat(file);
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return null;
  }
}

/** Whether the artifact behind a failure was replaced or repaired since (then loading again may help). */
export async function artifactChanged(failure: LoadFailure): Promise<boolean> {
  return failure.artifact !== undefined && (await fileStamp(failure.artifact.path)) !== failure.artifact.stamp;
}

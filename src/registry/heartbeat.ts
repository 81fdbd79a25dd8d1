import type { Registry } from './types.ts';

/**
 * Heartbeats a run every intervalMs until the returned function is called. Failures (a database
 * blip) are passed to onError and never crash the trainer; the timer does not keep Node alive.
 */
export function startHeartbeat(
  registry: Pick<Registry, 'heartbeat'>,
  runId: string,
  intervalMs: number,
  onError: (error: unknown) => void = () => {},
): () => void {
  const timer = setInterval(() => {
    registry.heartbeat(runId).catch(onError);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

import type { FastifyPluginAsync } from 'fastify';

/**
 * Marks a plugin so that its decorators and hooks apply to the instance that registers it rather
 * than to a child context: Fastify's documented 'skip-override' property (what fastify-plugin sets).
 */
export function globalPlugin<T extends Record<string, unknown>>(name: string, fn: FastifyPluginAsync<T>): FastifyPluginAsync<T> {
  const marked = fn as FastifyPluginAsync<T> & Record<symbol, unknown>;
  marked[Symbol.for('skip-override')] = true;
  marked[Symbol.for('fastify.display-name')] = name;
  return marked;
}

import type { FastifyInstance } from 'fastify';
import type { Registry } from '../registry/types.ts';
import type { ServeConfig } from './config.ts';
import { domainPlugins } from './plugins/domain.ts';
import { errorHandling } from './plugins/errors.ts';
import { externalPlugins } from './plugins/external.ts';
import { globalPlugin } from './plugins/global-plugin.ts';
import { adminRoutes } from './routes/admin.ts';
import { dashboardApiRoutes } from './routes/dashboard-api.ts';
import { dashboardStaticRoutes } from './routes/dashboard-static.ts';
import { healthRoutes } from './routes/health.ts';
import { predictRoutes } from './routes/predict.ts';
import { tritonExtensionRoutes } from './routes/triton-extensions.ts';
import { v2ModelRoutes } from './routes/v2-models.ts';

export interface AppPluginOptions extends Record<string, unknown> {
  registry: Registry;
  config: ServeConfig;
  /** Registers extra routes or hooks after the built-in ones, before the server is ready. */
  extend?: (app: FastifyInstance) => Promise<void> | void;
}

/**
 * The whole server as one plugin: external plugins, then domain decorators, then routes. Not
 * encapsulated, so the caller's instance sees app.models, app.registry and app.metrics.
 */
export const bnserveApp = globalPlugin<AppPluginOptions>('bnserve', async (app, opts) => {
  await app.register(externalPlugins);
  await app.register(errorHandling);
  await app.register(domainPlugins, { registry: opts.registry, config: opts.config });

  await app.register(healthRoutes);
  await app.register(v2ModelRoutes);
  await app.register(tritonExtensionRoutes);
  await app.register(predictRoutes);
  await app.register(adminRoutes);
  await app.register(dashboardApiRoutes);
  await app.register(dashboardStaticRoutes);
  if (opts.extend) await opts.extend(app);
});

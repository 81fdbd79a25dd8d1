import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Registry } from '../../registry/types.ts';
import type { ServeConfig } from '../config.ts';
import { domainPlugins } from './plugins/domain.ts';
import { errorHandling } from './plugins/errors.ts';
import { externalPlugins } from './plugins/external.ts';
import { loadShedding } from './plugins/load-shedding.ts';
import type { LineSink } from './request-log.ts';
import { tracingHooks } from './plugins/tracing.ts';
import { adminRoutes } from './routes/admin.ts';
import { adminImportRoutes } from './routes/admin-import.ts';
import { dashboardApiRoutes } from '../dashboard/api.ts';
import { dashboardStaticRoutes } from '../dashboard/static.ts';
import { healthRoutes } from './routes/health.ts';
import { predictRoutes } from './routes/predict.ts';
import { tritonExtensionRoutes } from './routes/triton-extensions.ts';
import { v2ModelRoutes } from './routes/v2-models.ts';

export interface AppPluginOptions extends Record<string, unknown> {
  registry: Registry;
  config: ServeConfig;
  /** Load and warm the models in app.ready() (see BuildAppOptions.loadModelsOnReady). */
  loadModelsOnReady: boolean;
  /** Where the request log writes its own lines (http/request-log.ts); null or absent: through app.log. */
  requestLogSink?: LineSink | null;
  /** Registers extra routes or hooks after the built-in ones, before the server is ready. */
  extend?: (app: FastifyInstance) => Promise<void> | void;
}

/**
 * The whole server as one plugin: external plugins, then domain decorators, then routes. Not
 * encapsulated, so the caller's instance sees app.models, app.registry and app.metrics.
 */
export const bnserveApp = fp<AppPluginOptions>(
  async (app, opts) => {
    await app.register(tracingHooks);
    await app.register(externalPlugins);
    await app.register(domainPlugins, {
      registry: opts.registry,
      config: opts.config,
      loadModelsOnReady: opts.loadModelsOnReady,
      requestLogSink: opts.requestLogSink ?? null,
    });
    await app.register(errorHandling);
    await app.register(loadShedding);

    await app.register(healthRoutes);
    await app.register(v2ModelRoutes);
    await app.register(tritonExtensionRoutes);
    await app.register(predictRoutes);
    await app.register(adminRoutes);
    await app.register(adminImportRoutes);
    await app.register(dashboardApiRoutes);
    await app.register(dashboardStaticRoutes);
    if (opts.extend) await opts.extend(app);
  },
  { name: 'bnserve', fastify: '5.x' },
);

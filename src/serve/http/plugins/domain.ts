import fp from 'fastify-plugin';
import type { Registry } from '../../../registry/types.ts';
import type { ServeConfig } from '../../config.ts';
import type { BatchingSettings } from '../../dataplane/batching-settings.ts';
import { DataPlane, type Lifecycle } from '../../dataplane/data-plane.ts';
import type { ServeMetrics } from '../../dataplane/metrics.ts';
import type { ModelManager } from '../../dataplane/model-manager.ts';
import { addRequestLog, type LineSink } from '../request-log.ts';

declare module 'fastify' {
  interface FastifyInstance {
    registry: Registry;
    models: ModelManager;
    metrics: ServeMetrics;
    serveConfig: ServeConfig;
    batchingSettings: BatchingSettings;
    lifecycle: Lifecycle;
    /** The protocol-neutral operations both transports call (dataplane/data-plane.ts). */
    dataPlane: DataPlane;
  }
  interface FastifyRequest {
    /** The model version that served this request, for metrics; null when none was resolved. */
    served: { model: string; version: number } | null;
  }
}

export interface DomainOptions {
  registry: Registry;
  config: ServeConfig;
  /** False: the caller starts the data plane after listening (startServer). */
  loadModelsOnReady: boolean;
  /** Where the request log writes its own lines (request-log.ts, requestLogSink); null: through the logger. */
  requestLogSink: LineSink | null;
  [key: string]: unknown;
}

/**
 * The data plane (dataplane/data-plane.ts) and its parts (registry, model manager, metrics, batching
 * settings, lifecycle), decorated on the instance, with the hooks that tie them to the app's life.
 */
export const domainPlugins = fp<DomainOptions>(
  async (app, { registry, config, loadModelsOnReady, requestLogSink }) => {
    const dataPlane = DataPlane.create({ registry, config, log: app.log });
    const { models, metrics, lifecycle } = dataPlane;

    app.decorate('registry', registry);
    app.decorate('models', models);
    app.decorate('metrics', metrics);
    app.decorate('serveConfig', config);
    app.decorate('batchingSettings', dataPlane.batching);
    app.decorate('lifecycle', lifecycle);
    app.decorate('dataPlane', dataPlane);
    app.decorateRequest('served', null);

    addRequestLog(app, requestLogSink);
    // Callback-style hooks on the request path: an async hook costs a promise and a microtask turn per request.
    app.addHook('onResponse', (request, reply, done) => {
      metrics.observeRequest(request.routeOptions.url, request.served, reply.statusCode, reply.elapsedTime / 1000);
      done();
    });

    // While draining, every response says "Connection: close", so its client stops reusing the
    // socket, which closes once the response is written (see http/drain.ts).
    app.addHook('preClose', async () => {
      lifecycle.draining = true;
    });
    app.addHook('onSend', (request, reply, payload, done) => {
      reply.header('x-request-id', request.id);
      if (lifecycle.draining) reply.header('connection', 'close');
      done(null, payload);
    });

    // An app built for inject loads and warms its models in ready(); startServer listens first and
    // starts the data plane after. A registry that cannot be read leaves the server live but not
    // ready, and polling retries.
    if (loadModelsOnReady) {
      app.addHook('onReady', async () => {
        await dataPlane.start();
      });
    }
    app.addHook('onClose', async () => {
      await dataPlane.close();
    });
  },
  { name: 'bnserve-domain', fastify: '5.x' },
);

import fp from 'fastify-plugin';
import type { Registry } from '../../registry/types.ts';
import { BatchingSettings } from '../batching-settings.ts';
import { ortSessionOptions, type ServeConfig } from '../config.ts';
import { ServeMetrics } from '../metrics.ts';
import { ModelManager } from '../model-manager.ts';
import { ProviderChain } from '../providers.ts';
import { addRequestLog } from '../request-log.ts';

declare module 'fastify' {
  interface FastifyInstance {
    registry: Registry;
    models: ModelManager;
    metrics: ServeMetrics;
    serveConfig: ServeConfig;
    batchingSettings: BatchingSettings;
    lifecycle: Lifecycle;
  }
  interface FastifyRequest {
    /** The model version that served this request, for metrics; null when none was resolved. */
    served: { model: string; version: number } | null;
  }
}

export interface Lifecycle {
  /** Set when shutdown begins: readiness turns 503 and every response says "Connection: close". */
  draining: boolean;
}

export interface DomainOptions {
  registry: Registry;
  config: ServeConfig;
  [key: string]: unknown;
}

/** The registry, the model manager (sessions), and the metrics, decorated on the instance. */
export const domainPlugins = fp<DomainOptions>(
  async (app, { registry, config }) => {
    const providers = new ProviderChain(config.providers, (message, failure) => app.log.warn({ provider: failure.provider }, message));
    const metrics = new ServeMetrics(() => models, providers);
    const batching = new BatchingSettings(config.batching, config.modelBatching);
    const models: ModelManager = new ModelManager({
      registry,
      providers,
      load: {
        batching: (model) => batching.get(model),
        onBatch: (model, version, rows, requests, timings) => metrics.observeBatch(model, version, rows, requests, timings),
        sessionOptions: ortSessionOptions(config),
      },
      log: app.log,
      onLoadFailure: (name) => metrics.loadFailures.inc({ model: name }),
      staleRunMs: config.staleRunMs,
      defaultAlias: config.defaultAlias,
    });

    app.decorate('registry', registry);
    app.decorate('models', models);
    app.decorate('metrics', metrics);
    app.decorate('serveConfig', config);
    app.decorate('batchingSettings', batching);
    const lifecycle: Lifecycle = { draining: false };
    app.decorate('lifecycle', lifecycle);
    app.decorateRequest('served', null);

    addRequestLog(app);
    // Callback-style hooks on the request path: an async hook costs a promise and a microtask turn per request.
    app.addHook('onResponse', (request, reply, done) => {
      metrics.observeRequest(request.routeOptions.url, request.served, reply.statusCode, reply.elapsedTime / 1000);
      done();
    });

    // While draining, every response says "Connection: close", so its client stops reusing the
    // socket, which closes once the response is written (see drain.ts).
    app.addHook('preClose', async () => {
      lifecycle.draining = true;
    });
    app.addHook('onSend', (request, reply, payload, done) => {
      reply.header('x-request-id', request.id);
      if (lifecycle.draining) reply.header('connection', 'close');
      done(null, payload);
    });

    // Models are loaded and warmed before the server listens; a registry that cannot be read
    // leaves the server live but not ready, and polling retries.
    app.addHook('onReady', async () => {
      if (await models.checkRegistry()) {
        await models.refreshAll().catch((err) => app.log.error({ err }, 'initial model load failed'));
      }
      models.startPolling(config.refreshIntervalMs);
    });
    app.addHook('onClose', async () => {
      await models.close();
    });
  },
  { name: 'bnserve-domain', fastify: '5.x' },
);

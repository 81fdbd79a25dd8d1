// OpenTelemetry server spans for REST: one per POST request (inferences, :predict, admin actions;
// health probes, metadata and metrics are not traced), continuing the caller's W3C `traceparent`.
// Registered hooks only when tracing is on: off, a request costs nothing here.
import { defaultTextMapGetter } from '@opentelemetry/api';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { tracingEnabled } from '../../../tracing/tracing.ts';
import { ATTR, type ServerTrace, startServerTrace } from '../../../tracing/spans.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** This request's server span; null when tracing is off or the request is not traced. */
    trace: ServerTrace | null;
  }
}

const traced = (request: FastifyRequest) => request.method === 'POST';

export const tracingHooks = fp(
  async (app) => {
    app.decorateRequest('trace', null);
    if (!tracingEnabled()) return;
    // Callback-style hooks on the request path: an async hook costs a promise and a microtask turn per request.
    app.addHook('onRequest', (request, _reply, done) => {
      if (traced(request)) {
        const route = request.routeOptions.url;
        request.trace = startServerTrace(route ? `POST ${route}` : 'POST', request.headers, defaultTextMapGetter, {
          [ATTR.protocol]: 'http',
          'http.request.method': 'POST',
          ...(route ? { 'http.route': route } : {}),
        });
      }
      done();
    });
    app.addHook('onError', (request, _reply, error, done) => {
      request.trace?.recordError(error);
      done();
    });
    // A response that a route built as an object is encoded by its serialiser: that is response encoding too.
    app.addHook('preSerialization', (request, reply, payload, done) => {
      if (request.served && reply.statusCode < 300) request.trace?.startEncoding();
      done(null, payload);
    });
    app.addHook('onSend', (request, _reply, payload, done) => {
      request.trace?.endEncoding();
      done(null, payload);
    });
    app.addHook('onResponse', (request, reply, done) => {
      request.trace?.end({ 'http.response.status_code': reply.statusCode }, reply.statusCode >= 500);
      done();
    });
  },
  { name: 'bnserve-tracing', fastify: '5.x' },
);

import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { BnserveError, type ErrorCode } from '../../../lib/errors.ts';
import { ModelUnavailableError } from '../../dataplane/errors.ts';
import { loggedError, boundedText } from '../bounded-error.ts';
import { HttpError } from '../http-errors.ts';
import { routeLabel } from '../../dataplane/metrics.ts';

/** "/inputs/0/datatype" → "inputs[0].datatype" */
function readablePath(instancePath: string): string {
  return instancePath
    .split('/')
    .filter((s) => s.length > 0)
    .map((s, i) => (/^\d+$/.test(s) ? `[${s}]` : i === 0 ? s : `.${s}`))
    .join('');
}

/**
 * HTTP status by domain error code. 5xx codes that are not about availability are bugs or
 * server-side damage (a corrupt artifact): their message stays in the log.
 */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  invalid_input: 400,
  invalid_config: 400,
  invalid_data: 400,
  invalid: 400,
  not_found: 404,
  conflict: 409,
  refused: 409,
  unservable_output: 422,
  model_load_failed: 422,
  unavailable: 503,
  model_unavailable: 503,
  overloaded: 503,
  integrity: 500,
  checkpoint_invalid: 500,
  // Only an admin import reaches it in the server: the folded graph failed the parity gate.
  export_failed: 422,
  training_diverged: 500,
};

/** One error handler: 4xx → {"error": message}; 5xx → a generic message, details only in the log. */
export const errorHandling = fp(
  async (app) => {
    app.setErrorHandler((err: FastifyError, request, reply) => {
      if (hasZodFastifySchemaValidationErrors(err)) {
        if (err.validationContext === 'body' && request.body === undefined) {
          return reply.code(400).send({ error: 'the request body is empty: send a JSON object' });
        }
        if (err.validationContext === 'body' && request.body === null) {
          return reply.code(400).send({ error: 'the request body is null: it must be a JSON object' });
        }
        const where = err.validationContext ?? 'request';
        const issues = err.validation.slice(0, 3).map((v) => {
          const path = readablePath(v.instancePath);
          return `${where}${path ? `.${path}` : ''}: ${v.message}`;
        });
        const more = err.validation.length > 3 ? ` (and ${err.validation.length - 3} more)` : '';
        const error = issues.join('; ') + more;
        request.log.info({ error }, 'request rejected');
        return reply.code(400).send({ error });
      }
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        return reply.code(413).send({
          error: `request body is larger than the limit of ${request.server.serveConfig.limits.bodyLimit} bytes (BNSERVE_BODY_LIMIT_BYTES)`,
        });
      }
      if (err instanceof BnserveError && err.code === 'unavailable') {
        // The detail names the database file or host: log it, answer with what the caller can act on.
        request.log.error({ err: err.message }, 'request failed: the model registry is unavailable');
        countUnavailable(request, 'registry_unavailable');
        return reply.code(503).send({
          error: 'the model registry is unavailable, so nothing was changed; try again once GET /v2/health/ready answers 200',
        });
      }
      if (err instanceof ModelUnavailableError) countUnavailable(request, err.reason);
      const status =
        err instanceof BnserveError ? HTTP_STATUS[err.code] : err instanceof HttpError ? err.statusCode : (err.statusCode ?? 500);
      const shown = err instanceof HttpError || err instanceof ModelUnavailableError || (status >= 400 && status < 500);
      if (shown) {
        if (status >= 500) request.log.warn({ err: boundedText(err.message) }, 'request failed');
        else request.log.info({ error: boundedText(err.message) }, 'request rejected');
        return reply.code(status).send({ error: err.message });
      }
      request.log.error({ err: loggedError(err) }, 'request failed with an internal error');
      return reply.code(status >= 500 && status < 600 ? status : 500).send({ error: 'internal server error' });
    });

    // JSON is UTF-8 by definition (RFC 8259): answer exactly "application/json", which is what
    // KServe's client compares against before it reads an {"error"} body.
    app.addHook('onSend', (_request, reply, payload, done) => {
      if (reply.getHeader('content-type') === 'application/json; charset=utf-8') reply.header('content-type', 'application/json');
      done(null, payload);
    });

    app.setNotFoundHandler((request, reply) => {
      reply.code(404).send({ error: `no route for ${request.method} ${request.url.split('?')[0]}` });
    });
  },
  // It reads serveConfig (the body limit) and metrics, which the domain plugin decorates.
  { name: 'bnserve-errors', fastify: '5.x', dependencies: ['bnserve-domain'] },
);

function countUnavailable(request: FastifyRequest, reason: string): void {
  const route = routeLabel(request.routeOptions.url);
  request.server.metrics?.unavailable.inc({ route, model: request.served?.model ?? modelParam(request), reason });
}

function modelParam(request: FastifyRequest): string {
  const model = (request.params as { model?: unknown } | undefined)?.model;
  return typeof model === 'string' ? model : '';
}

const shown = (url: string | undefined) => JSON.stringify((url ?? '').slice(0, 200));

/** Status and message for the errors Fastify raises before routing (its frameworkErrors option). */
export function frameworkErrorBody(error: FastifyError, url: string | undefined): { status: number; error: string } {
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return { status: 400, error: `malformed URL ${shown(url)}: every "%" must start a percent-encoded UTF-8 sequence such as %20` };
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return { status: 414, error: `URL ${shown(url)} has a path segment that is too long (model names have at most 64 characters)` };
    default: {
      const status = error.statusCode ?? 500;
      return status >= 400 && status < 500 ? { status, error: error.message } : { status: 500, error: 'internal server error' };
    }
  }
}

/** Passed to Fastify as frameworkErrors: the same {"error": message} body as routed requests get. */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const body = frameworkErrorBody(error, request.raw.url);
  if (body.status >= 500) request.log.error({ err: loggedError(error) }, 'request failed before routing');
  else request.log.info({ error: boundedText(body.error) }, 'request rejected');
  // Route hooks (request id header, metrics) do not run for requests that never reached the router.
  void reply
    .code(body.status)
    .header('x-request-id', request.id)
    .header('content-type', 'application/json')
    .send(Buffer.from(JSON.stringify({ error: body.error })));
}

/**
 * Passed to Fastify as clientErrorHandler, for requests that are not valid HTTP at all. Answers
 * like Fastify's default handler, but with a {"error": message} body.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'the request was not received in time']
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'the request headers are larger than the server accepts']
        : [400, 'malformed HTTP request'];
  const body = JSON.stringify({ error: message });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

import type { FastifyError } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { HttpError } from '../http-errors.ts';
import { globalPlugin } from './global-plugin.ts';

/** "/inputs/0/datatype" → "inputs[0].datatype" */
function readablePath(instancePath: string): string {
  return instancePath
    .split('/')
    .filter((s) => s.length > 0)
    .map((s, i) => (/^\d+$/.test(s) ? `[${s}]` : i === 0 ? s : `.${s}`))
    .join('');
}

/** One error handler: 4xx → {"error": message}; 5xx → a generic message, details only in the log. */
export const errorHandling = globalPlugin('bnserve-errors', async (app) => {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
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
      return reply.code(413).send({ error: `request body is larger than the limit of ${request.server.serveConfig.limits.bodyLimit} bytes (BNSERVE_BODY_LIMIT_BYTES)` });
    }
    const status = err instanceof HttpError ? err.statusCode : (err.statusCode ?? 500);
    if (err instanceof HttpError || (status >= 400 && status < 500)) {
      if (status >= 500) request.log.warn({ err: err.message }, 'request failed');
      else request.log.info({ error: err.message }, 'request rejected');
      return reply.code(status).send({ error: err.message });
    }
    request.log.error({ err }, 'request failed with an internal error');
    return reply.code(status >= 500 && status < 600 ? status : 500).send({ error: 'internal server error' });
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: `no route for ${request.method} ${request.url.split('?')[0]}` });
  });
});

// The dashboard's built assets (npm run build:ui → dist/ui) under /ui. Nothing is fetched from elsewhere:
// the Content-Security-Policy keeps the page on this server.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import { HttpError } from '../http/http-errors.ts';

export const DASHBOARD_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../dist/ui');

const CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

export interface DashboardStaticOptions {
  /** Folder holding index.html and assets/ (default: dist/ui of this checkout). */
  root?: string;
}

export const dashboardStaticRoutes: FastifyPluginAsync<DashboardStaticOptions> = async (app, opts) => {
  const root = opts.root ?? DASHBOARD_DIR;
  app.get('/ui', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/ui/', 302));

  if (!existsSync(path.join(root, 'index.html'))) {
    const missing = async () => {
      throw new HttpError(503, 'the dashboard is not built: run "npm run build:ui" (it writes dist/ui), then restart the server');
    };
    app.get('/ui/', { schema: { hide: true } }, missing);
    app.get('/ui/*', { schema: { hide: true } }, missing);
    return;
  }

  await app.register(
    async (ui) => {
      ui.addHook('onSend', async (_request, reply, payload) => {
        reply.header('content-security-policy', CSP);
        reply.header('x-content-type-options', 'nosniff');
        return payload;
      });
      await ui.register(fastifyStatic, {
        root,
        prefix: '/',
        decorateReply: false,
        wildcard: true,
        index: ['index.html'],
        // vite writes content-hashed names under assets/: cache those for good, re-check the page itself.
        setHeaders: (reply, file) => {
          reply.header('cache-control', file.includes(`${path.sep}assets${path.sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache');
        },
        preCompressed: true,
        schemaHide: true,
      });
      // Deep links (/ui/runs/…) get the page; its router reads the hash or the path.
      ui.setNotFoundHandler(async (request, reply) => {
        if (request.method !== 'GET' || path.extname(request.url.split('?')[0]) !== '') {
          return reply.code(404).send({ error: `no dashboard file at ${request.url.split('?')[0]}` });
        }
        return reply
          .type('text/html')
          .header('cache-control', 'no-cache')
          .send(await readFile(path.join(root, 'index.html')));
      });
    },
    { prefix: '/ui' },
  );
};

// The OpenAPI document's components (one schema per type actually used) and the policy of its page.
import { jsonSchemaTransformObject } from 'fastify-type-provider-zod';

type Transform = typeof jsonSchemaTransformObject;

/**
 * Content-Security-Policy of /docs (Swagger UI): its page loads only its own scripts and styles
 * from this server (no inline script: @fastify/swagger-ui serves the initialiser as a file) and
 * fetches only this server (the document, "Try it out"). Not @fastify/swagger-ui's staticCSP: true,
 * which adds upgrade-insecure-requests (breaks the page on plain http://host:8080) and
 * validator.swagger.io (the validator badge is off here: validatorUrl is null).
 */
export const DOCS_CSP = [
  "default-src 'self'",
  "base-uri 'self'",
  "connect-src 'self'",
  "font-src 'self' data:",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "img-src 'self' data:",
  "object-src 'none'",
  "script-src 'self'",
  "script-src-attr 'none'",
  // Swagger UI's React components set style attributes.
  "style-src 'self' 'unsafe-inline'",
].join('; ');
type OpenApiDocument = { components?: { schemas?: Record<string, unknown> } } & Record<string, unknown>;

function refsIn(value: unknown, into: Set<string>): void {
  if (Array.isArray(value)) {
    for (const v of value) refsIn(v, into);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      if (key === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/'))
        into.add(v.slice('#/components/schemas/'.length));
      else refsIn(v, into);
    }
  }
}

/**
 * fastify-type-provider-zod writes every registered (id-carrying) zod schema twice, as "<Id>Input"
 * (request side) and "<Id>" (response side), whether or not a route uses it on that side. Ours are
 * responses only, so half the components were unused copies. Keeps the components the paths reach
 * (directly or through other components), so a schema also used by a request keeps its Input form.
 */
export const usedSchemasOnly: Transform = (input) => {
  const document = jsonSchemaTransformObject(input) as OpenApiDocument;
  const schemas = document.components?.schemas;
  if (!schemas) return document as ReturnType<Transform>;
  const used = new Set<string>();
  refsIn({ ...document, components: { ...document.components, schemas: {} } }, used);
  for (let grown = true; grown; ) {
    const before = used.size;
    for (const name of [...used]) refsIn(schemas[name], used);
    grown = used.size > before;
  }
  const kept = Object.fromEntries(Object.entries(schemas).filter(([name]) => used.has(name)));
  return { ...document, components: { ...document.components, schemas: kept } } as ReturnType<Transform>;
};

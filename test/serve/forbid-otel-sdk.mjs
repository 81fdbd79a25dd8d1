// Registered with --import: makes any resolution of an OpenTelemetry package other than the API
// (the SDK, exporters, context manager) fail, naming the importer.
import { register } from 'node:module';

register(
  `data:text/javascript,${encodeURIComponent(`
export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@opentelemetry/') && specifier !== '@opentelemetry/api') throw new Error('OpenTelemetry SDK reached: ' + specifier + ' from ' + context.parentURL);
  return next(specifier, context);
}`)}`,
);

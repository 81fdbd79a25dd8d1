// Registered with --import: makes any resolution of a @tensorflow package fail, naming the importer.
import { register } from 'node:module';

register(
  `data:text/javascript,${encodeURIComponent(`
export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@tensorflow/')) throw new Error('tfjs reached: ' + specifier + ' from ' + context.parentURL);
  return next(specifier, context);
}`)}`,
);

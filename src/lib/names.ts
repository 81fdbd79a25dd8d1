// The naming vocabulary every layer shares (config, settings, registry, server, CLI): what a model
// name and an alias may be, and the alias that promotion and serving default to. The registry
// enforces it; the rest only read it.

/** Same rule as the training config's `name`: safe in URLs, file names and shells. */
export const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Starts with a letter so that an alias can never be mistaken for a version number. */
export const ALIAS = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/;
/** The alias promote moves and reads default to (and the server's BNSERVE_DEFAULT_ALIAS default). */
export const PRODUCTION_ALIAS = 'production';

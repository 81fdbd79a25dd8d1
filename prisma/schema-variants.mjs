// Derives the PostgreSQL schema from the one hand-written datamodel (prisma/schema.prisma).
// Prisma fixes the provider per schema file, so the PostgreSQL file is generated, never edited.
// Plain JavaScript because it runs in `postinstall` before any TypeScript tooling is needed.

export const SQLITE_SCHEMA = 'prisma/schema.prisma';
export const POSTGRES_SCHEMA = 'prisma/postgresql/schema.prisma';

const BANNER =
  '// GENERATED from prisma/schema.prisma by scripts/prisma-generate.mjs. Do not edit:\n' +
  '// edit prisma/schema.prisma, then run `node scripts/prisma-generate.mjs`.\n';

function replaceExactlyOnce(source, pattern, replacement, what) {
  const matches = source.match(new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`));
  if (matches?.length !== 1) {
    throw new Error(`prisma/schema.prisma: expected exactly one ${what}, found ${matches ? matches.length : 0}`);
  }
  return source.replace(pattern, replacement);
}

/** @param {string} sqliteSchema the contents of prisma/schema.prisma */
export function derivePostgresSchema(sqliteSchema) {
  let out = sqliteSchema.replace(/^(\/\/.*\n)+/, '');
  out = replaceExactlyOnce(
    out,
    /(datasource\s+\w+\s*\{[^}]*?provider\s*=\s*)"sqlite"/,
    '$1"postgresql"',
    'datasource with provider = "sqlite"',
  );
  out = replaceExactlyOnce(
    out,
    /(\n\s*output\s*=\s*)"\.\.\/src\/registry\/generated\/sqlite"/,
    '$1"../../src/registry/generated/postgresql"',
    'generator output "../src/registry/generated/sqlite"',
  );
  return BANNER + out;
}

// Prisma CLI configuration (`npx prisma …`). The application itself does not read this file:
// src/registry/migrate.ts applies the same migrations folders through the wasm schema engine.
import path from 'node:path';
import { defineConfig } from 'prisma/config';

const projectRoot = import.meta.dirname;
const url = process.env.DATABASE_URL || `file:${path.join(projectRoot, 'data', 'bnserve.db')}`;
const provider = /^postgres(ql)?:\/\//i.test(url) ? 'postgresql' : 'sqlite';

export default defineConfig({
  schema: provider === 'postgresql' ? 'prisma/postgresql/schema.prisma' : 'prisma/schema.prisma',
  migrations: { path: `prisma/migrations/${provider}` },
  datasource: { url },
});

import { defineConfig } from 'drizzle-kit';

// `npm run db:generate` writes SQL migrations into drizzle/ from lib/db/schema.ts.
export default defineConfig({
  dialect: 'turso',
  schema: './lib/db/schema.ts',
  out: './drizzle',
});

import { on } from './vercel.ts';

// Every route (healthz, readyz, openapi.json, and anything vercel.json sends here).
export const GET = on('api');
export const HEAD = on('api');
export const POST = on('api');
export const PUT = on('api');
export const PATCH = on('api');
export const DELETE = on('api');
export const OPTIONS = on('api');

import { on, type NetlifyConfig } from './netlify.ts';

// Health, readiness and the OpenAPI document; the task routes have their own functions.
export default on('api');
export const config: NetlifyConfig = { path: ['/healthz', '/readyz', '/openapi.json'] };

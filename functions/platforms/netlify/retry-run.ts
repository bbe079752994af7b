import { on, type NetlifyConfig } from './netlify.ts';

export default on('retryRun');
export const config: NetlifyConfig = { path: '/runs/:id/retry', method: 'POST' };

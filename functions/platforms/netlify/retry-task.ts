import { on, type NetlifyConfig } from './netlify.ts';

export default on('retryTask');
export const config: NetlifyConfig = { path: '/tasks/:id/retry', method: 'POST' };

import { on, type NetlifyConfig } from './netlify.ts';

export default on('retryTasks');
export const config: NetlifyConfig = { path: '/tasks/retry', method: 'POST' };

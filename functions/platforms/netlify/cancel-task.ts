import { on, type NetlifyConfig } from './netlify.ts';

export default on('cancelTask');
export const config: NetlifyConfig = { path: '/tasks/:id/cancel', method: 'POST' };

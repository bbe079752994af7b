import { on, type NetlifyConfig } from './netlify.ts';

export default on('getTask');
export const config: NetlifyConfig = { path: '/tasks/:id', method: 'GET' };

import { on, type NetlifyConfig } from './netlify.ts';

export default on('createTask');
export const config: NetlifyConfig = { path: '/tasks', method: 'POST' };

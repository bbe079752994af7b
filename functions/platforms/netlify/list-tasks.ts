import { on, type NetlifyConfig } from './netlify.ts';

export default on('listTasks');
export const config: NetlifyConfig = { path: '/tasks', method: 'GET' };

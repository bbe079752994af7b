import { on, type NetlifyConfig } from './netlify.ts';

export default on('createTasks');
export const config: NetlifyConfig = { path: '/tasks/batch', method: 'POST' };

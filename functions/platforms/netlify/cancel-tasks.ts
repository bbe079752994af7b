import { on, type NetlifyConfig } from './netlify.ts';

export default on('cancelTasks');
export const config: NetlifyConfig = { path: '/tasks/cancel', method: 'POST' };

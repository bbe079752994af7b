import { on, type NetlifyConfig } from './netlify.ts';

export default on('deleteTask');
export const config: NetlifyConfig = { path: '/tasks/:id', method: 'DELETE' };

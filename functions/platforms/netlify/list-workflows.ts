import { on, type NetlifyConfig } from './netlify.ts';

export default on('listWorkflows');
export const config: NetlifyConfig = { path: '/workflows', method: 'GET' };

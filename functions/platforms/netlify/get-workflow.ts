import { on, type NetlifyConfig } from './netlify.ts';

export default on('getWorkflow');
export const config: NetlifyConfig = { path: '/workflows/:name', method: 'GET' };

import { on, type NetlifyConfig } from './netlify.ts';

export default on('putWorkflow');
export const config: NetlifyConfig = { path: '/workflows/:name', method: 'PUT' };

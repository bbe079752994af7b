import { on, type NetlifyConfig } from './netlify.ts';

export default on('deleteWorkflow');
export const config: NetlifyConfig = { path: '/workflows/:name', method: 'DELETE' };

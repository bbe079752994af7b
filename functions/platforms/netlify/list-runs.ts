import { on, type NetlifyConfig } from './netlify.ts';

export default on('listRuns');
export const config: NetlifyConfig = { path: '/runs', method: 'GET' };

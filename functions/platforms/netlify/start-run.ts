import { on, type NetlifyConfig } from './netlify.ts';

export default on('startRun');
export const config: NetlifyConfig = { path: '/workflows/:name/runs', method: 'POST' };

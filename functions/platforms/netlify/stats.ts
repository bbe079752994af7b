import { on, type NetlifyConfig } from './netlify.ts';

export default on('stats');
export const config: NetlifyConfig = { path: '/stats', method: 'GET' };

import { on, type NetlifyConfig } from './netlify.ts';

export default on('sendEvent');
export const config: NetlifyConfig = { path: '/events', method: 'POST' };

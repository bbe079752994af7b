import { on, type NetlifyConfig } from './netlify.ts';

export default on('poll');
export const config: NetlifyConfig = { path: '/poll', method: 'POST' };

import { on, type NetlifyConfig } from './netlify.ts';

export default on('getRun');
export const config: NetlifyConfig = { path: '/runs/:id', method: 'GET' };

import { on, type NetlifyConfig } from './netlify.ts';

export default on('listTypes');
export const config: NetlifyConfig = { path: '/types', method: 'GET' };

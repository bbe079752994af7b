import { on, type NetlifyConfig } from './netlify.ts';

export default on('pauseType');
export const config: NetlifyConfig = { path: '/types/:type/pause', method: 'POST' };

import { scheduledPoll } from './netlify.ts';

// Scheduled by netlify.toml (`[functions."poll-scheduled"] schedule`): no HTTP route, no secret.
export default scheduledPoll;

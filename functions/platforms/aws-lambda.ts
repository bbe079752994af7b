import { Hono } from 'hono';
import { handle, type LambdaContext, type LambdaEvent } from 'hono/aws-lambda';
import type { PollSummary } from '../../lib/processing/deadline-poll.ts';
import { createFunctions } from '../functions.ts';
import { handlers, workflows } from '../task-handlers.ts';
import { processEnv } from './process-env.ts';

/**
 * AWS Lambda: API Gateway (HTTP API v2, REST v1) and ALB events go through hono/aws-lambda to
 * the API; an EventBridge schedule (`rate(1 minute)` in the SAM template) runs a poll.
 * API Gateway appends the caller's address to X-Forwarded-For: set TRUST_PROXY=true.
 */
export interface ScheduledEvent {
  source: 'aws.events';
  'detail-type': 'Scheduled Event';
  time: string;
}

const functions = createFunctions({ platform: 'lambda', handlers, workflows });
const http = handle(new Hono().all('*', (c) => functions.api(c.req.raw, processEnv())));

export function isScheduledEvent(event: unknown): event is ScheduledEvent {
  const e = event as Partial<ScheduledEvent> | null;
  return e?.source === 'aws.events' && e['detail-type'] === 'Scheduled Event';
}

export async function handler(event: LambdaEvent | ScheduledEvent, context: LambdaContext): Promise<Awaited<ReturnType<typeof http>> | PollSummary> {
  if (isScheduledEvent(event)) return functions.scheduledPoll(processEnv());
  return http(event, context);
}

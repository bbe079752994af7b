import { Hono } from 'hono';
import { handle, type LambdaContext, type LambdaEvent } from 'hono/aws-lambda';
import type { PollSummary } from '../lib/processing/deadline-poll.ts';
import { createFunctions, type FunctionsOptions } from './functions.ts';
import { processEnv } from './platforms/process-env.ts';

/**
 * `import { createLambdaHandler } from 'task-pool/lambda'`: one AWS Lambda function with the
 * user's own handlers and workflows (docs/package.md). API Gateway (HTTP API v2, REST v1) and
 * ALB events go through hono/aws-lambda to the API; an EventBridge schedule (`rate(1 minute)`)
 * runs a poll. Configuration comes from the function's environment. API Gateway appends the
 * caller's address to X-Forwarded-For: set TRUST_PROXY=true.
 */
export type LambdaOptions = Omit<FunctionsOptions, 'platform'>;

export interface ScheduledEvent {
  source: 'aws.events';
  'detail-type': 'Scheduled Event';
  time: string;
}

export function isScheduledEvent(event: unknown): event is ScheduledEvent {
  const e = event as Partial<ScheduledEvent> | null;
  return e?.source === 'aws.events' && e['detail-type'] === 'Scheduled Event';
}

type HttpHandler = ReturnType<typeof handle>;
export type LambdaHandler = (event: LambdaEvent | ScheduledEvent, context: LambdaContext) => Promise<Awaited<ReturnType<HttpHandler>> | PollSummary>;

export function createLambdaHandler(options: LambdaOptions = {}): LambdaHandler {
  const functions = createFunctions({ ...options, platform: 'lambda' });
  const http = handle(new Hono().all('*', (c) => functions.api(c.req.raw, processEnv())));
  return async (event, context) => {
    if (isScheduledEvent(event)) return functions.scheduledPoll(processEnv());
    return http(event, context);
  };
}

export type { LambdaContext, LambdaEvent } from 'hono/aws-lambda';
export type { PollSummary } from '../lib/processing/deadline-poll.ts';

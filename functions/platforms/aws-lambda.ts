import { createLambdaHandler } from '../lambda.ts';
import { handlers, workflows } from '../task-handlers.ts';

/**
 * AWS Lambda: the API and the EventBridge schedule's poll (deploy/aws-lambda/template.yaml);
 * functions/lambda.ts says how events are told apart.
 */
export const handler = createLambdaHandler({ handlers, workflows });

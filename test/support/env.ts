/**
 * Every test process talks to DynamoDB Local with fixed local credentials, and the functions' log
 * lines are written as Lambda's JSON log format would (lib/local/lambda-logs.ts) at level FATAL:
 * quiet, as the functions never log at FATAL (test/http/observability.test.ts lowers it to read them).
 */
import { useLambdaConsole } from '../../lib/local/lambda-logs.js';

process.env.AWS_REGION = 'us-east-1';
process.env.AWS_ACCESS_KEY_ID = 'local';
process.env.AWS_SECRET_ACCESS_KEY = 'local';
process.env.AWS_LAMBDA_LOG_LEVEL = 'FATAL';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
useLambdaConsole({ everywhere: true });

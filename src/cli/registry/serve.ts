/** serve (the HTTP API and dashboard), its tokens, and estimate. */
import type { Command } from 'commander';
import { group, leaf, type RunState } from '../define.js';

export function registerServe(program: Command, state: RunState): void {
  leaf(program, state, 'estimate', "what one more request would add to a tenant's period now, as rating would bill it (allowance left, discount)", [
    'billctl estimate --tenant acme --model qwen-70b --input-tokens 1200 --output-tokens 400',
    'billctl estimate --tenant acme --model qwen-70b --input-tokens 200 --cached-input-tokens 3000 --reasoning-tokens 800',
    'billctl estimate --tenant acme --gpu h100 --gpu-seconds 3600 --format json',
  ], async () => ({ run: (await import('../commands/estimate.js')).run }))
    .requiredOption('--tenant <id>', 'the tenant')
    .option('--model <name>', 'the model of the request (needed for tokens)')
    .option('--input-tokens <n>', 'input tokens of the request (not counting cached or cache write tokens)')
    .option('--cached-input-tokens <n>', 'input tokens read from the provider\'s prompt cache')
    .option('--cache-write-tokens <n>', 'input tokens written to the provider\'s prompt cache')
    .option('--output-tokens <n>', 'output tokens of the request (not counting reasoning tokens)')
    .option('--reasoning-tokens <n>', 'reasoning tokens of the request (billed at the output price unless the catalog prices them)')
    .option('--gpu <type>', 'the GPU type (needed for GPU seconds)')
    .option('--gpu-seconds <n>', 'GPU seconds of the request');

  const serve = leaf(program, state, 'serve', 'the HTTP API and dashboard over this store (stops cleanly on SIGTERM); request logs on stderr', [
    'billctl serve',
    'billctl serve --host 0.0.0.0 --port 8080 --format json   # JSON log lines',
    'billctl serve token create --tenant acme --name "acme dashboard"',
    'curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8787/v1/tenants/acme/quota',
  ], async () => ({ run: (await import('../commands/serve.js')).run }))
    .option('--host <address>', 'the address to listen on', '127.0.0.1')
    .option('--port <n>', 'the port to listen on (0: any free one)', '8787');

  const token = group(serve, 'token', 'API tokens of billctl serve (only their hashes are stored)', [
    'billctl serve token create --tenant acme',
    'billctl serve token list',
  ]);
  leaf(token, state, 'create', 'make a token and print it once: with --tenant it sees that tenant alone, without it is an operator token', [
    'billctl serve token create --tenant acme --name "acme dashboard"',
    'billctl serve token create --name ops   # an operator token: every tenant, /metrics',
  ], async () => ({ run: (await import('../commands/serve-token.js')).createCommand }))
    .option('--tenant <id>', 'the tenant the token sees (omit for an operator token)')
    .option('--name <name>', 'a name to recognise it by in token list');
  leaf(token, state, 'list', 'every token: id, name, scope, first characters, created, revoked', [
    'billctl serve token list',
  ], async () => ({ run: (await import('../commands/serve-token.js')).listCommand }));
  leaf(token, state, 'revoke <id>', 'revoke a token (a running server refuses it within a second)', [
    'billctl serve token revoke 3',
  ], async () => ({ run: (await import('../commands/serve-token.js')).revokeCommand }));
}

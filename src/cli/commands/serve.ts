/** serve [--host 127.0.0.1] [--port 8787]: the HTTP API and dashboard until SIGTERM or SIGINT. */
import { ExitCode, UsageError } from '../../errors.js';
import type { Context } from '../context.js';

export async function run(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const host = String(opts.host ?? '127.0.0.1');
  const portText = String(opts.port ?? '8787');
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw new UsageError(`--port: "${portText}" is not a port number`, 'Write it like 8787 (0 picks a free one).');
  if (ctx.format === 'csv') throw new UsageError('--format: serve logs as text (table) or JSON lines (json)');
  const config = await ctx.config();
  const secret = ctx.io.env.STRIPE_WEBHOOK_SECRET || undefined;
  const { startServer } = await import('../../server/server.js');
  const { makeLogger } = await import('../../server/log.js');
  const log = makeLogger(ctx.io.stderr, ctx.format === 'json', ctx.opts.quiet);
  const store = await ctx.openStore();
  let server;
  try {
    server = await startServer({ store, config, host, port: Number(portText), now: () => ctx.clock.now(), log, webhookSecret: secret });
  } catch (err) {
    await store.close();
    const code = (err as { code?: string }).code;
    if (code === 'EADDRINUSE') throw new UsageError(`${host}:${portText} is in use`, 'Stop what listens there, or pick another --port.');
    if (code === 'EACCES' || code === 'EADDRNOTAVAIL') throw new UsageError(`cannot listen on ${host}:${portText} (${code})`);
    throw err;
  }
  log.info(`billctl serve: listening on ${server.url} (store ${store.location})`, { url: server.url });
  if (!secret) log.info('STRIPE_WEBHOOK_SECRET is not set: POST /v1/stripe/webhook answers 500 until it is');
  const running = server;
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      log.info(`billctl serve: ${signal}, finishing the requests under way`);
      void running.close().then(resolve, resolve);
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
  log.info('billctl serve: stopped');
  return ExitCode.ok;
}

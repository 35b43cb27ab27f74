/**
 * Progress on stderr, only on a terminal and without --quiet; otherwise every call is a no-op.
 */
import type { Context } from './context.js';

export interface Progress {
  /** Sets the total (bytes, items) when it becomes known. */
  setTotal(total: number): void;
  update(done: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

const silent: Progress = { setTotal() {}, update() {}, stop() {} };

export async function startProgress(ctx: Context, format: string, total: number): Promise<Progress> {
  if (!ctx.showProgress) return silent;
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    { format, stream: ctx.io.stderr, hideCursor: true, clearOnComplete: true, etaBuffer: 50, fps: 5, noTTYOutput: false },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return {
    setTotal: (t) => bar.setTotal(t),
    update: (done, payload) => bar.update(done, payload ?? {}),
    stop: () => bar.stop(),
  };
}

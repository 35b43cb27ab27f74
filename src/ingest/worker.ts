/** The reading thread: hashes and reads sources on request, posting parcels back (see reading.ts). */
import { parentPort } from 'node:worker_threads';
import { hashFile, runPipeline, type PipelineControl } from './pipeline.js';
import { toWire } from './reading.js';
import type { PipelineJob } from './types.js';

const port = parentPort!;
let outstanding = 0;
let wake: (() => void) | undefined;
const control: PipelineControl = { aggregates: true };

type ToWorker =
  | { type: 'ack' }
  | { type: 'hash'; path: string }
  | { type: 'run'; job: PipelineJob }
  | { type: 'aggregates'; on: boolean };

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'ack': {
      outstanding--;
      const w = wake;
      wake = undefined;
      w?.();
      break;
    }
    case 'hash':
      hashFile(m.path).then(
        (r) => port.postMessage({ type: 'hashed', ...r }),
        (err: unknown) => port.postMessage({ type: 'error', error: toWire(err) }),
      );
      break;
    case 'aggregates':
      control.aggregates = m.on;
      break;
    case 'run':
      outstanding = 0;
      control.aggregates = m.job.sumFirstUnit;
      runPipeline(
        m.job,
        undefined,
        async (p) => {
          outstanding++;
          const moved = [p.codes, p.nums, p.freeEnds, p.rawBytes, p.rawEnds];
          port.postMessage({ type: 'parcel', parcel: p }, moved.map((a) => a.buffer as ArrayBuffer));
          while (outstanding >= m.job.queue) await new Promise<void>((r) => (wake = r));
        },
        control,
      ).then(
        (end) => port.postMessage({ type: 'end', end }),
        (err: unknown) => port.postMessage({ type: 'error', error: toWire(err) }),
      );
      break;
    default:
      m satisfies never;
  }
});

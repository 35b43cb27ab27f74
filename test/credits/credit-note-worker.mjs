// Issues credit notes of 0.01 net in a loop, as one process of the numbering race tests:
//   node credit-note-worker.mjs <db> <count> <invoice,invoice,...>
// It runs the built billctl (dist/), as the CLI does, and prints a dot per note.
import { openStore } from '../../dist/store/open.js';
import { loadConfig } from '../../dist/config.js';
import { issueCreditNote } from '../../dist/app/credit-notes.js';

const [db, count, list] = process.argv.slice(2);
const store = await openStore(db);
const config = await loadConfig(undefined, process.cwd());
const invoices = list.split(',');
const audit = (command, details) => store.appendAudit({ at: new Date().toISOString(), actor: 'worker', command, details });
try {
  for (let i = 0; i < Number(count); i++) {
    const invoice = invoices[i % invoices.length];
    await issueCreditNote(store, config, { invoice, amount: '0.01', reason: `note ${i}`, issueDate: '2026-12-01' }, new Date().toISOString(), audit);
    process.stdout.write('.');
  }
} finally {
  await store.close();
}

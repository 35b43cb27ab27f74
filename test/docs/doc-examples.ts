/**
 * Reading the examples out of the docs (the convention is in docs/development.md): fenced `sh`
 * blocks are run, `shell` and `cron` blocks are shown; every billctl command in any of them is
 * parsed by billctl's own command registry.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface Block {
  file: string;
  lang: string;
  /** 1-based line of the opening fence. */
  line: number;
  text: string;
}

export interface DocCommand {
  file: string;
  line: number;
  /** The command as a shell reads it (continuation lines joined, comment dropped). */
  command: string;
  /** The exit code its comment announces (`# exits 4: …`), else 0. */
  exitCode: number;
}

/** The fenced code blocks of a Markdown file. */
export function blocksOf(file: string): Block[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const out: Block[] = [];
  let open: { lang: string; line: number; body: string[] } | undefined;
  lines.forEach((l, i) => {
    const fence = /^```(\S*)\s*$/.exec(l);
    if (!fence) {
      open?.body.push(l);
      return;
    }
    if (open) {
      out.push({ file, lang: open.lang, line: open.line, text: open.body.join('\n') });
      open = undefined;
    } else open = { lang: fence[1]!, line: i + 1, body: [] };
  });
  if (open) throw new Error(`${file}:${open.line}: a code block is never closed`);
  return out;
}

/** Where an unquoted `#` starts a comment (a `#` at the start of a word), or -1. */
function commentStart(s: string): number {
  let quote: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === '\\' && quote !== "'") i++;
      else if (c === quote) quote = null;
    } else if (c === '\\') i++;
    else if (c === "'" || c === '"') quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(s[i - 1]!))) return i;
  }
  return -1;
}

/** The commands of a block: one per line, a trailing `\` joining the next line. */
export function commandsOf(block: Block): DocCommand[] {
  const out: DocCommand[] = [];
  const lines = block.text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const first = i;
    let text = lines[i]!;
    while (/\\\s*$/.test(text) && i + 1 < lines.length) text = text.replace(/\\\s*$/, ' ') + lines[++i]!.trim();
    const hash = commentStart(text);
    const comment = hash < 0 ? '' : text.slice(hash + 1).trim();
    const command = (hash < 0 ? text : text.slice(0, hash)).trim();
    if (command === '') continue;
    const exits = /^exits (\d+)\b/.exec(comment);
    out.push({ file: block.file, line: block.line + 1 + first, command, exitCode: exits ? Number(exits[1]) : 0 });
  }
  return out;
}

const OPERATORS = ['&&', '||', '2>&1', '2>>', '>>', '2>', '|', ';', '&', '>', '<'];

/** Words and operators of a command line, quotes removed, roughly as bash splits them. */
export function shellWords(s: string): string[] {
  const out: string[] = [];
  let word: string | null = null;
  const push = () => {
    if (word !== null) out.push(word);
    word = null;
  };
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (/\s/.test(c)) {
      push();
      continue;
    }
    const op = OPERATORS.find((o) => s.startsWith(o, i) && (!o.startsWith('2>') || word === null));
    if (op) {
      push();
      out.push(op);
      i += op.length - 1;
      continue;
    }
    word ??= '';
    if (c === '$' && s[i + 1] === "'") {
      const end = s.indexOf("'", i + 2);
      word += s.slice(i + 2, end).replace(/\\n/g, '\n').replace(/\\t/g, '\t');
      i = end;
    } else if (c === "'") {
      const end = s.indexOf("'", i + 1);
      word += s.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"') {
        if (s[j] === '\\' && j + 1 < s.length) j++;
        word += s[j];
        j++;
      }
      i = j;
    } else if (c === '\\' && i + 1 < s.length) word += s[++i];
    else word += c;
  }
  push();
  return out;
}

/**
 * The argument lists of the billctl commands in a command line: each simple command whose first
 * word (after `VAR=value` assignments and `npx`) is `billctl`. Redirections and their targets
 * are left out.
 */
export function billctlInvocations(command: string): string[][] {
  const words = shellWords(command.replace(/^(\S+\s+){5}(?=cd\s)/, '')); // a crontab line's schedule
  const simple: string[][] = [[]];
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (['&&', '||', '|', ';', '&'].includes(w)) simple.push([]);
    else if (['>', '>>', '<', '2>', '2>>'].includes(w)) i++;
    else if (w === '2>&1') continue;
    else simple[simple.length - 1]!.push(w);
  }
  const out: string[][] = [];
  for (const words of simple) {
    let k = 0;
    while (k < words.length && /^[A-Z_][A-Z0-9_]*=/.test(words[k]!)) k++;
    if (words[k] === 'npx') k++;
    if (words[k] === 'billctl') out.push(words.slice(k + 1));
  }
  return out;
}

/** Relative links of a Markdown file (`[text](target)`), with the line they are on. */
export function linksOf(file: string): { line: number; target: string }[] {
  const out: { line: number; target: string }[] = [];
  fs.readFileSync(file, 'utf8')
    .split('\n')
    .forEach((l, i) => {
      for (const m of l.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (!/^[a-z]+:/i.test(m[1]!)) out.push({ line: i + 1, target: m[1]! });
      }
    });
  return out;
}

/** GitHub's anchors for a Markdown file's headings. */
export function anchorsOf(file: string): Set<string> {
  const out = new Set<string>();
  let inCode = false;
  for (const l of fs.readFileSync(file, 'utf8').split('\n')) {
    if (l.startsWith('```')) inCode = !inCode;
    const h = !inCode && /^#{1,6}\s+(.*)$/.exec(l);
    if (h) out.add(h[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-'));
  }
  return out;
}

/** README.md first, then docs/*.md in name order. */
export function docFiles(root: string): string[] {
  const docs = path.join(root, 'docs');
  return [
    path.join(root, 'README.md'),
    ...fs.readdirSync(docs).filter((f) => f.endsWith('.md')).sort().map((f) => path.join(docs, f)),
  ];
}

/** A word as a POSIX shell reads it back unchanged: as it is when plain, else in single quotes. */
export function shellWord(s: string): string {
  return /^[\w.@%+=:,/-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`;
}

/** Store locations: a SQLite file path or a postgres:// URL, and how to print them safely. */

export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/** The URL with its password replaced by `***`; anything unparsable is hidden after the scheme. */
export function redactUrl(location: string): string {
  if (!isPostgresUrl(location)) return location;
  try {
    const url = new URL(location);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return location.replace(/\/\/[^@/]*@/, '//***@');
  }
}

/** The password of a postgres URL, so error texts can be scrubbed of it. */
export function urlPassword(location: string): string | undefined {
  if (!isPostgresUrl(location)) return undefined;
  try {
    const pw = new URL(location).password;
    return pw ? decodeURIComponent(pw) : undefined;
  } catch {
    return undefined;
  }
}

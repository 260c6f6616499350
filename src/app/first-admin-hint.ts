/**
 * What to do first on an empty store: printed once per start, before the port answers (by the
 * primary when there are workers; a module of its own so that the primary need not load the app).
 */
export function firstAdminHint(publicUrl: string): string {
  const domain = 'example.org';
  return (
    `\nNo users yet. Create your organization and its first admin (prints a one-time set-password link):\n` +
    // The CLI prints links from SESAME_PUBLIC_URL and never guesses it (another terminal does not
    // see this server's settings): the first command gives it this server's.
    `  export SESAME_PUBLIC_URL=${publicUrl}\n` +
    `  npx sesame org add ${domain} --name "Example"\n` +
    `  npx sesame user add admin@${domain} --name "Admin" --admin\n` +
    `Admins always sign in with a second factor: the first sign-in sets one up (an authenticator app, for instance).\n\n`
  );
}

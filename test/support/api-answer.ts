/**
 * The fields that tests read from the JSON API's answers when they call it over real HTTP (fetch gives
 * `unknown`). Each is optional, since an answer of another kind lacks it: a test that reads one asserts
 * on it first, or says `!` where the step it just took guarantees it.
 */
export interface ApiAnswer {
  /** A flow's step (`more_info_required`, `second_factor`, `enrolled`...). */
  state?: string;
  /** A flow token (`X-Sesame-Flow`) or, when the flow is done, a session token. */
  token?: string;
  /** An app password just made (`POST /app-passwords`). */
  password?: string;
  /** The method being set up: an authenticator app's secret. */
  prompt?: { secret: string };
  /** The method being asked for at sign-in. */
  current?: { kind: string };
  /** The app password a flow hands out at its end. */
  appPassword?: { password: string };
  error?: { code: string; message: string };
}

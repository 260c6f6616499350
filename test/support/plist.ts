/**
 * A configuration profile as an independent reader sees it: Python's plistlib (the parser of the
 * standard library, which rejects what is not a well-formed property list). Types survive the
 * trip: integers stay numbers, booleans stay booleans.
 */
import { execFileSync } from 'node:child_process';

const READ = `
import json, plistlib, sys
print(json.dumps(plistlib.loads(sys.stdin.buffer.read(), fmt=plistlib.FMT_XML)))
`;

export type Plist = Record<string, unknown>;

export function readPlist(body: Buffer | string): Plist {
  return JSON.parse(execFileSync('python3', ['-c', READ], { input: body }).toString()) as Plist;
}

/** The profile's payloads of one type. */
export function payloads(profile: Plist, type: string): Plist[] {
  return (profile.PayloadContent as Plist[]).filter((p) => p.PayloadType === type);
}

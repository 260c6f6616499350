/**
 * libphonenumber-js with its full ("max") metadata, loaded at first use. It is ~0.1 s of CPU to
 * load, which every CLI command and server start would otherwise pay, and only phone methods and
 * the settings that name countries need it. Loaded synchronously (its CommonJS build), since its
 * callers are synchronous.
 */
import { createRequire } from 'node:module';

type Max = typeof import('libphonenumber-js/max');
type Examples = typeof import('libphonenumber-js/mobile/examples').default;

const load = createRequire(import.meta.url);
let max: Max | undefined;
let examples: Examples | undefined;

export const phoneNumbers = (): Max => (max ??= load('libphonenumber-js/max') as Max);
export const mobileExamples = (): Examples => (examples ??= load('libphonenumber-js/mobile/examples') as Examples);

/**
 * The JSON side of the MFA flows: the same stored flows the pages drive. After POST /sessions
 * answers 200 with a flow instead of 201 with a token, the client sends the flow token in the
 * `X-Sesame-Flow` header to POST /flow/{action} until an answer carries a session token.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SesameError } from '../../domain/errors.js';
import type { Flow } from '../../domain/flows/flow.js';
import type { FlowView, Step } from '../../domain/flows/sign-in-flow.js';
import { translator } from '../../i18n/i18n.js';
import { errorsWithDelivery as errors } from '../../web/api.js';
import type { Services } from '../../web/services.js';

export const flowSchema = {
  type: 'object',
  description: 'A sign-in that needs more than the password. Render `state`; send `token` back as X-Sesame-Flow.',
  properties: {
    token: { type: 'string', description: 'Only in the answer that created the flow.' },
    state: {
      type: 'string',
      enum: [
        'more_info_required',
        'choose_method',
        'contact_details',
        'verify_enrolment',
        'enrolled',
        'app_password',
        'recovery_codes',
        'second_factor',
        'done',
      ],
    },
    choices: { type: 'array', items: { type: 'string' } },
    chosen: {
      type: 'string',
      nullable: true,
      description: 'At contact_details: the method whose phone number or address to send with `method`.',
    },
    phoneExample: {
      type: 'string',
      description: "At contact_details for a phone: an example number in the form the organization's people use.",
    },
    methods: {
      type: 'array',
      items: {
        type: 'object',
        properties: { id: { type: 'string' }, kind: { type: 'string' }, label: { type: 'string' } },
      },
    },
    current: {
      type: 'object',
      nullable: true,
      properties: { id: { type: 'string' }, kind: { type: 'string' }, label: { type: 'string' } },
    },
    prompt: { type: 'object', nullable: true, additionalProperties: true },
    recoveryCodes: { type: 'array', items: { type: 'string' } },
    appPassword: {
      type: 'object',
      properties: { name: { type: 'string' }, password: { type: 'string' } },
      description: 'Shown once, at the app_password step.',
    },
    rememberDays: { type: 'integer' },
  },
  required: ['state'],
} as const;

/** A started session (201), as every sign-in answer that ends in one returns it. */
export const sessionSchema = {
  type: 'object',
  properties: {
    token: { type: 'string' },
    expiresAt: { type: 'string', format: 'date-time' },
    amr: { type: 'array', items: { type: 'string' } },
  },
} as const;

export function flowOut(v: FlowView, token?: string) {
  const method = (m: { id: string; kind: string; label: string }) => ({ id: m.id, kind: m.kind, label: m.label });
  return {
    ...(token ? { token } : {}),
    state: v.flow.state,
    choices: v.choices,
    chosen: v.flow.state === 'contact_details' ? (v.flow.data.chosen ?? null) : null,
    ...(v.phoneExample ? { phoneExample: v.phoneExample } : {}),
    methods: v.methods.map(method),
    current: v.current
      ? method(v.current)
      : v.flow.state === 'second_factor'
        ? { id: 'recovery', kind: 'recovery', label: '' }
        : null,
    prompt: v.prompt ?? null,
    ...(v.recoveryCodes ? { recoveryCodes: v.recoveryCodes } : {}),
    ...(v.appPassword ? { appPassword: v.appPassword } : {}),
    rememberDays: v.policy.rememberDays,
  };
}

export function registerFlowApi(
  api: FastifyInstance,
  ctx: Services,
  sessionOut: (step: Extract<Step, { done: true }>, reply: FastifyReply) => unknown,
) {
  const load = async (req: FastifyRequest) => {
    const h = req.headers['x-sesame-flow'];
    return ctx.flows.load(typeof h === 'string' ? h : undefined, ['sign_in']);
  };

  type Body = {
    kind?: string;
    target?: string;
    method?: string;
    code?: string;
    credential?: unknown;
    remember?: boolean;
  };
  const actions: Record<
    string,
    (flow: Flow, user: Parameters<typeof ctx.flows.next>[1], body: Body) => Promise<Step | void>
  > = {
    setup: (flow) => ctx.flows.setUpNow(flow),
    pick: (flow, user, b) => ctx.flows.pickMethod(flow, user, b.kind ?? ''),
    method: (flow, user, b) => ctx.flows.chooseMethod(flow, user, b.kind ?? '', b.target),
    choose: (flow) => ctx.flows.chooseAnother(flow),
    resend: (flow, user) =>
      flow.state === 'verify_enrolment'
        ? ctx.flows.resendEnrolmentCode(flow, user)
        : ctx.flows.resendChallengeCode(flow, user),
    switch: (flow, user, b) => ctx.flows.switchMethod(flow, user, b.method ?? ''),
    verify: async (flow, user, b) => {
      const response = { code: b.code, credential: b.credential };
      if (flow.state === 'verify_enrolment') {
        await ctx.flows.confirmEnrolment(flow, user, response);
        return;
      }
      return ctx.flows.verifySecondFactor(flow, user, response, { remember: false });
    },
    next: (flow, user) => ctx.flows.next(flow, user, { appPasswordName: translator(flow.data.locale)('ap.keep.name') }),
    done: (flow, user) => ctx.flows.finishRegistration(flow, user),
  };

  const headers = {
    type: 'object',
    properties: { 'x-sesame-flow': { type: 'string', maxLength: 100 } },
    required: ['x-sesame-flow'],
  } as const;

  api.get(
    '/flow',
    {
      schema: {
        tags: ['sign-in flow'],
        summary: 'The current state of a sign-in flow.',
        headers,
        response: { 200: flowSchema, ...errors },
      },
    },
    async (req) => {
      const { flow, user } = await load(req);
      return flowOut(await ctx.flows.view(flow, user));
    },
  );

  api.post<{ Params: { action: string }; Body: Body }>(
    '/flow/:action',
    {
      schema: {
        tags: ['sign-in flow'],
        summary:
          'One step of a sign-in flow: setup, pick {kind} (then method {kind, target} at contact_details), method {kind, target}, choose, resend, switch {method}, verify {code | credential}, next, done.',
        headers,
        params: {
          type: 'object',
          properties: { action: { type: 'string', enum: Object.keys(actions) } },
          required: ['action'],
        },
        body: {
          type: 'object',
          nullable: true,
          properties: {
            kind: { type: 'string', maxLength: 20 },
            target: { type: 'string', maxLength: 254 },
            method: { type: 'string', maxLength: 64 },
            code: { type: 'string', maxLength: 40 },
            credential: { type: 'object', additionalProperties: true },
            remember: { type: 'boolean' },
          },
          additionalProperties: false,
        },
        response: {
          200: flowSchema,
          201: sessionSchema,
          ...errors,
        },
      },
    },
    async (req, reply) => {
      const { flow, user } = await load(req);
      const act = actions[req.params.action];
      if (!act) throw new SesameError('invalid_input', `unknown flow action ${req.params.action}`);
      const step = await act(flow, user, req.body ?? {});
      if (step?.done) return sessionOut(step, reply);
      return flowOut(await ctx.flows.view(flow, user));
    },
  );
}

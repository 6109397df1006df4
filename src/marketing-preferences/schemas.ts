// Wire schemas of the marketing preferences API (read-only: only the contact changes them,
// inside WhatsApp).
import { Type, type Static } from 'typebox';
import { IdentifierParams, nullable } from '../contacts/schemas.ts';
import { authErrors, errorResponse } from '../http/errors.ts';
import { success } from '../http/openapi.ts';

export const MarketingPreferenceSchema = Type.Object(
  {
    id: Type.String({ description: "Meta's id of the business number the preference applies to" }),
    phone_number_id: Type.String({ description: 'Same as id' }),
    status: Type.String({ enum: ['stopped', 'resumed'], description: 'stopped: the contact asked for no marketing messages; resumed: they allowed them again' }),
    detail: nullable(Type.String(), 'Reason Meta reported, when it gave one'),
    source: Type.String({
      enum: ['meta_webhook', 'meta_delivery_error', 'meta_synchronous_error'],
      description: "meta_webhook: Meta's user_preferences event; the error sources: a send refused with Meta error 131050",
    }),
    marketing_allowed: Type.Boolean({ description: 'false while the status is stopped' }),
    config_display_name: nullable(Type.String(), 'Your name for the business number'),
    last_event_at: Type.String({ format: 'date-time', description: 'When WhatsApp says the latest change happened' }),
    whatsapp_contact_id: Type.String({ format: 'uuid' }),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  { description: "A contact's choice about marketing messages on one business number" },
);
export type MarketingPreference = Static<typeof MarketingPreferenceSchema>;

/** The preference the document's examples show. */
const PREFERENCE_EXAMPLE: MarketingPreference = {
  id: '106540352242922',
  phone_number_id: '106540352242922',
  status: 'stopped',
  detail: null,
  source: 'meta_webhook',
  marketing_allowed: false,
  config_display_name: 'Lisbon support',
  last_event_at: '2026-03-03T18:20:00.000000Z',
  whatsapp_contact_id: '0b8f6c3e-2f4a-4c1d-9e7b-5a6d3c2b1a90',
  created_at: '2026-03-03T18:20:01.114000Z',
  updated_at: '2026-03-03T18:20:01.114000Z',
};

export const PreferenceParams = Type.Object({
  ...IdentifierParams.properties,
  phone_number_id: Type.String({ description: "Meta's id of one of your business numbers" }),
});

export const listPreferencesSchema = {
  summary: "List a contact's marketing preferences",
  description: 'One entry per business number on which the contact stopped or resumed marketing messages; an empty list means subscribed everywhere.',
  operationId: 'listWhatsappContactMarketingPreferences',
  tags: ['Contacts'],
  params: IdentifierParams,
  response: { 200: success(Type.Object({ data: Type.Array(MarketingPreferenceSchema) }), "The contact's recorded preferences, one per business number", { example: { data: [PREFERENCE_EXAMPLE] } }), 404: errorResponse('Contact not found'), ...authErrors },
};

export const getPreferenceSchema = {
  summary: "Get a contact's marketing preference on one number",
  description:
    'The 404 message tells the cases apart: "Marketing preference not found" means no change was ever recorded (subscribed); ' +
    '"WhatsApp contact not found" and "WhatsApp configuration not found" mean the contact or the number is unknown.',
  operationId: 'getWhatsappContactMarketingPreference',
  tags: ['Contacts'],
  params: PreferenceParams,
  response: { 200: success(Type.Object({ data: MarketingPreferenceSchema }), "The contact's preference on this number", { example: { data: PREFERENCE_EXAMPLE } }), 404: errorResponse('Contact, number or preference not found'), ...authErrors },
};

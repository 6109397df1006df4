// HTTP routes of /whatsapp/contacts/{identifier}/marketing_preferences (read-only).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { getPreferenceSchema, listPreferencesSchema } from './schemas.ts';
import { MarketingPreferencesService } from './service.ts';

export const marketingPreferenceRoutes: FastifyPluginAsyncTypebox<{ db: Kysely<Database> }> = async (app, { db }) => {
  const preferences = new MarketingPreferencesService(db);

  app.get('/whatsapp/contacts/:identifier/marketing_preferences', { schema: listPreferencesSchema }, async (request) => ({
    data: await preferences.list(request.auth.projectId, request.params.identifier),
  }));

  app.get('/whatsapp/contacts/:identifier/marketing_preferences/:phone_number_id', { schema: getPreferenceSchema }, async (request) => ({
    data: await preferences.get(request.auth.projectId, request.params.identifier, request.params.phone_number_id),
  }));
};

// Phone numbers, WABAs and flows as the Graph API describes them: what Parley's health check
// reads (quality, status, throughput, health_status per entity) and the plain edges the SDK
// passes through (business profile, settings, registration, calls, flows). Any numeric id the
// stand-in does not know otherwise is taken for a phone number, with healthy defaults that tests
// can change per number.
import { randomBytes } from 'node:crypto';
import { mediaId } from './media-store.ts';

export type CanSend = 'AVAILABLE' | 'LIMITED' | 'BLOCKED';

export interface HealthEntity {
  entity_type: 'PHONE_NUMBER' | 'WABA' | 'BUSINESS' | 'APP';
  id: string;
  can_send_message: CanSend;
  additional_info?: string[];
  errors?: { error_code: string; error_description: string; possible_solution?: string }[];
}

export interface PhoneNumberFields {
  display_phone_number: string;
  verified_name: string;
  quality_rating: 'GREEN' | 'YELLOW' | 'RED' | 'NA' | 'UNKNOWN';
  code_verification_status: string;
  name_status: string;
  status: string;
  throughput: { level: string };
  messaging_limit_tier: string;
  platform_type: string;
  account_mode: 'SANDBOX' | 'LIVE';
  is_official_business_account: boolean;
  /** Overall send capability; the entities list is built from the number's and its WABA's. */
  can_send_message: CanSend;
  /** Extra entities (a BUSINESS that is blocked, say) added to health_status.entities. */
  extra_entities: HealthEntity[];
}

export interface PhoneNumberState extends PhoneNumberFields {
  id: string;
  wabaId: string;
  profile: Record<string, unknown>;
  settings: Record<string, unknown>;
  registered: boolean;
}

export interface WabaFields {
  name: string;
  currency: string;
  timezone_id: string;
  message_template_namespace: string;
  account_review_status: 'APPROVED' | 'PENDING' | 'REJECTED';
  business_verification_status: string;
  can_send_message: CanSend;
  subscribed: boolean;
}

export interface WabaState extends WabaFields {
  id: string;
}

export interface Flow {
  id: string;
  wabaId: string;
  name: string;
  categories: string[];
  status: 'DRAFT' | 'PUBLISHED' | 'DEPRECATED';
  flowJson: string | null;
}

export const SANDBOX_APP_ID = '789012345678901';
export const SANDBOX_BUSINESS_ID = '456789012345678';

function displayNumber(id: string): string {
  const digits = `1555${id.slice(-7).padStart(7, '0')}`;
  return `+1 ${digits.slice(1, 4)}-${digits.slice(4, 7)}-${digits.slice(7)}`;
}

/** The subset of `fields` asked for (always with id), or everything when none were named. */
export function pickFields(all: Record<string, unknown>, fields: string | null): Record<string, unknown> {
  if (fields === null || fields.trim() === '') return all;
  const out: Record<string, unknown> = { id: all.id };
  for (const raw of fields.split(',')) {
    const name = raw.trim().replace(/\{.*$/, '');
    if (name in all) out[name] = all[name];
  }
  return out;
}

export class Accounts {
  readonly numbers = new Map<string, PhoneNumberState>();
  readonly wabas = new Map<string, WabaState>();
  readonly flows = new Map<string, Flow>();

  constructor(readonly defaultWabaId: string) {
    this.waba(defaultWabaId);
  }

  waba(id: string): WabaState {
    let waba = this.wabas.get(id);
    if (!waba) {
      waba = {
        id,
        name: 'Sandbox business',
        currency: 'USD',
        timezone_id: '1',
        message_template_namespace: randomBytes(16).toString('hex'),
        account_review_status: 'APPROVED',
        business_verification_status: 'verified',
        can_send_message: 'AVAILABLE',
        subscribed: true,
      };
      this.wabas.set(id, waba);
    }
    return waba;
  }

  number(id: string): PhoneNumberState {
    let number = this.numbers.get(id);
    if (!number) {
      number = {
        id,
        wabaId: this.defaultWabaId,
        display_phone_number: displayNumber(id),
        verified_name: 'Sandbox Business',
        quality_rating: 'GREEN',
        code_verification_status: 'VERIFIED',
        name_status: 'APPROVED',
        status: 'CONNECTED',
        throughput: { level: 'STANDARD' },
        messaging_limit_tier: 'TIER_1K',
        platform_type: 'CLOUD_API',
        account_mode: 'LIVE',
        is_official_business_account: false,
        can_send_message: 'AVAILABLE',
        extra_entities: [],
        profile: { about: 'Sandbox number', address: '', description: '', email: '', profile_picture_url: '', websites: [], vertical: 'OTHER' },
        settings: { calling: { status: 'DISABLED' }, fallback_language: 'en_US' },
        registered: true,
      };
      this.numbers.set(id, number);
    }
    return number;
  }

  setNumber(id: string, patch: Partial<PhoneNumberFields> & { wabaId?: string }): PhoneNumberState {
    const number = this.number(id);
    Object.assign(number, patch);
    this.waba(number.wabaId);
    return number;
  }

  setWaba(id: string, patch: Partial<WabaFields>): WabaState {
    return Object.assign(this.waba(id), patch);
  }

  /** Digits of the display number, as webhooks' metadata carries it. */
  displayDigits(id: string): string {
    return this.number(id).display_phone_number.replace(/\D/g, '');
  }

  private entities(number: PhoneNumberState): HealthEntity[] {
    const waba = this.waba(number.wabaId);
    return [
      { entity_type: 'PHONE_NUMBER', id: number.id, can_send_message: number.can_send_message },
      { entity_type: 'WABA', id: waba.id, can_send_message: waba.can_send_message },
      { entity_type: 'BUSINESS', id: SANDBOX_BUSINESS_ID, can_send_message: 'AVAILABLE' },
      { entity_type: 'APP', id: SANDBOX_APP_ID, can_send_message: 'AVAILABLE' },
      ...number.extra_entities,
    ];
  }

  private static worst(values: CanSend[]): CanSend {
    return values.includes('BLOCKED') ? 'BLOCKED' : values.includes('LIMITED') ? 'LIMITED' : 'AVAILABLE';
  }

  /** `GET /{pnid}`. */
  describeNumber(id: string, fields: string | null): Record<string, unknown> {
    const n = this.number(id);
    const entities = this.entities(n);
    const all = {
      id: n.id,
      display_phone_number: n.display_phone_number,
      verified_name: n.verified_name,
      quality_rating: n.quality_rating,
      code_verification_status: n.code_verification_status,
      name_status: n.name_status,
      status: n.status,
      throughput: n.throughput,
      messaging_limit_tier: n.messaging_limit_tier,
      platform_type: n.platform_type,
      account_mode: n.account_mode,
      is_official_business_account: n.is_official_business_account,
      health_status: { can_send_message: Accounts.worst(entities.map((e) => e.can_send_message)), entities },
    };
    return pickFields(all, fields);
  }

  /** `GET /{waba}`. */
  describeWaba(id: string, fields: string | null): Record<string, unknown> {
    const w = this.waba(id);
    const entities: HealthEntity[] = [
      { entity_type: 'WABA', id: w.id, can_send_message: w.can_send_message },
      { entity_type: 'BUSINESS', id: SANDBOX_BUSINESS_ID, can_send_message: 'AVAILABLE' },
      { entity_type: 'APP', id: SANDBOX_APP_ID, can_send_message: 'AVAILABLE' },
    ];
    const all = {
      id: w.id,
      name: w.name,
      currency: w.currency,
      timezone_id: w.timezone_id,
      message_template_namespace: w.message_template_namespace,
      account_review_status: w.account_review_status,
      business_verification_status: w.business_verification_status,
      health_status: { can_send_message: Accounts.worst(entities.map((e) => e.can_send_message)), entities },
    };
    return pickFields(all, fields);
  }

  /** `GET /{waba}/phone_numbers`. */
  numbersOf(wabaId: string, fields: string | null) {
    const data = [...this.numbers.values()].filter((n) => n.wabaId === wabaId).map((n) => pickFields(this.describeNumber(n.id, null), fields ?? 'id,display_phone_number,verified_name,quality_rating'));
    return { data, paging: { cursors: data.length ? { before: 'QVFIUm', after: 'QVFIUm' } : {} } };
  }

  subscribedApps(wabaId: string) {
    const waba = this.waba(wabaId);
    return { data: waba.subscribed ? [{ whatsapp_business_api_data: { id: SANDBOX_APP_ID, name: 'Parley sandbox app', link: 'https://example.invalid/app' } }] : [] };
  }

  createFlow(wabaId: string, body: Record<string, unknown>): { id: string; success: true; validation_errors: unknown[] } {
    const flow: Flow = {
      id: mediaId(),
      wabaId,
      name: String(body.name),
      categories: Array.isArray(body.categories) ? body.categories.map(String) : ['OTHER'],
      status: body.publish === true ? 'PUBLISHED' : 'DRAFT',
      flowJson: typeof body.flow_json === 'string' ? body.flow_json : null,
    };
    this.flows.set(flow.id, flow);
    return { id: flow.id, success: true, validation_errors: [] };
  }

  describeFlow(flow: Flow, fields: string | null): Record<string, unknown> {
    return pickFields(
      {
        id: flow.id,
        name: flow.name,
        status: flow.status,
        categories: flow.categories,
        validation_errors: [],
        json_version: '6.0',
        data_api_version: '3.0',
        whatsapp_business_account: { id: flow.wabaId },
        preview: { preview_url: `https://business.facebook.com/wa/manage/flows/${flow.id}/preview/`, expires_at: new Date(Date.now() + 30 * 86_400_000).toISOString() },
      },
      fields,
    );
  }

  flowsOf(wabaId: string) {
    const data = [...this.flows.values()].filter((f) => f.wabaId === wabaId).map((f) => ({ id: f.id, name: f.name, status: f.status, categories: f.categories, validation_errors: [] }));
    return { data, paging: { cursors: data.length ? { before: 'QVFIUm', after: 'QVFIUm' } : {} } };
  }

  clear(): void {
    this.numbers.clear();
    this.wabas.clear();
    this.flows.clear();
    this.waba(this.defaultWabaId);
  }
}

// Building projection test state the way production does: by appending events to the store.
import { randomUUID } from 'node:crypto';
import { callRecordedData, parseCallRow, type CallRow } from '../../domain/call.ts';
import { streams, type CallRecorded, type LedgerEvent } from '../../domain/events.ts';
import type { EventStore, EventToAppend } from '../../eventstore/port.ts';

export function event(e: LedgerEvent, id: string = randomUUID()): EventToAppend {
  return { id, type: e.type, data: e.data, ...(e.metadata ? { metadata: e.metadata } : {}) };
}

export function contractOpened(contractCode: string, basicNumber: string, startDate = '2010-11-15'): LedgerEvent {
  return {
    type: 'ContractOpened',
    data: { contractCode, selfId: contractCode, startDate, channels: 1, connectionType: 'ダイヤルイン接続', primaryDns: '192.0.2.1', secondaryDns: '192.0.2.2', basicNumber },
  };
}

export function numberAdded(contractCode: string, dialInNumber: string, startDate = '2010-11-15'): LedgerEvent {
  return { type: 'NumberAdded', data: { contractCode, dialInNumber, auMobileNumber: '09012345678', startDate } };
}

export function representativeSubscribed(contractCode: string, representativeNumber: string, effectiveFrom: string): LedgerEvent {
  return { type: 'OptionSubscribed', data: { contractCode, option: 'representativeNumber', effectiveFrom, representativeNumber } };
}

export function representativeCancelled(contractCode: string, effectiveFrom: string): LedgerEvent {
  return { type: 'OptionCancelled', data: { contractCode, option: 'representativeNumber', effectiveFrom } };
}

export interface CallSpec {
  usingNumber: string;
  /** `YYYY/MM/DD` */
  startDate: string;
  startTime: string;
  duration?: string;
  destination?: string;
  callType?: string;
  extensionType?: string;
  charge: string;
  area?: string;
}

let destinationCounter = 0;

/** A CallRecorded as the importer makes it from a CSV row (category, free, billing month derived). */
export function callRecorded(contractCode: string, spec: CallSpec): CallRecorded {
  const row: CallRow = {
    usingNumber: spec.usingNumber,
    startDate: spec.startDate,
    startTime: spec.startTime,
    destination: spec.destination ?? `03-5555-${String(++destinationCounter).padStart(4, '0')}`,
    area: spec.area ?? '東京',
    duration: spec.duration ?? '000106.0',
    extensionType: spec.extensionType ?? '外線',
    callType: spec.callType ?? '国内呼',
    charge: spec.charge,
  };
  const parsed = parseCallRow(row);
  if (!parsed.ok) throw new Error(`bad test call: ${JSON.stringify(parsed.problems)}`);
  return { type: 'CallRecorded', data: callRecordedData(parsed.call, contractCode) };
}

export async function appendContract(store: EventStore, contractCode: string, ...events: LedgerEvent[]): Promise<void> {
  await store.append(streams.contract(contractCode), events.map((e) => event(e)));
}

/** Appends calls to their billing month's stream; returns them. */
export async function appendCalls(store: EventStore, contractCode: string, specs: CallSpec[]): Promise<CallRecorded[]> {
  const calls = specs.map((s) => callRecorded(contractCode, s));
  const byStream = new Map<string, CallRecorded[]>();
  for (const c of calls) {
    const s = streams.calls(contractCode, c.data.billingMonth);
    byStream.set(s, [...(byStream.get(s) ?? []), c]);
  }
  for (const [streamId, cs] of byStream) await store.append(streamId, cs.map((c) => event(c, c.data.callId)));
  return calls;
}

export async function appendCorrection(store: EventStore, call: CallRecorded, charge: string, reason = 'carrier correction'): Promise<void> {
  await store.append(streams.calls(call.data.contractCode, call.data.billingMonth), [event({ type: 'CallCorrected', data: { callId: call.data.callId, charge, reason } })]);
}

export async function appendVoid(store: EventStore, call: CallRecorded, reason = 'duplicate from the carrier'): Promise<void> {
  await store.append(streams.calls(call.data.contractCode, call.data.billingMonth), [event({ type: 'CallVoided', data: { callId: call.data.callId, reason } })]);
}

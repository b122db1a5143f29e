// Stored events are read as written and never rewritten (STYLE §2): an event whose shape has since
// changed is brought to today's shape here, on read. Each upcaster is tested with the old JSON.
import type { TelegramRecorded } from './events.ts';

/**
 * TelegramRecorded before receipt numbers (受付番号) had none: its receiptNumber reads as null. It
 * still counts once, as it did (its id is the one derived from its content then).
 */
export function upcastTelegramRecorded(data: unknown): TelegramRecorded['data'] {
  const d = data as Omit<TelegramRecorded['data'], 'receiptNumber'> & { receiptNumber?: string | null };
  return { ...d, receiptNumber: d.receiptNumber ?? null };
}

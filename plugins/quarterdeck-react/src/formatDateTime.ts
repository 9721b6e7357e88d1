/** An instant as the reader's local date and time ('–' when there is none; the text as it is when it is no date). */
export function formatDateTime(iso: string | undefined): string {
  if (!iso) return '–';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/**
 * The pool's one alarm, derived from every kind of due time it keeps in
 * SQLite (lease expiries now; retries later). After any change to those rows
 * the alarm is set again from the earliest, so a lost or stale alarm cannot
 * strand work: the rows are the truth, the alarm only a wake-up call.
 */

/** Something the pool must do at a time: the earliest such time, or null when nothing of its kind is due. */
export type DueTime = () => number | null;

export async function rearm(storage: DurableObjectStorage, dueTimes: readonly DueTime[]): Promise<void> {
  const due = dueTimes.map((next) => next()).filter((time): time is number => time !== null);
  if (due.length === 0) await storage.deleteAlarm();
  else await storage.setAlarm(Math.min(...due));
}

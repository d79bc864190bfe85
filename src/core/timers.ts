// Coarse per-request timers for the hot path. A request used to arm one node timer per timeout
// (stream idle, route timeout, per-try) and refresh or clear it; node keeps a list per duration,
// but creating, refreshing and clearing a Timeout costs a libuv clock call and list churn (a list
// that empties is dropped and rebuilt on the next request). Here all deadlines of one duration sit
// in one intrusive doubly linked list, in deadline order (same duration → appending keeps it
// sorted), and one unref'd node timer per list is armed for the earliest deadline. Arm, refresh
// and cancel are O(1) pointer updates; removed entries cost nothing until the timer fires, which
// re-arms for the new head. Resolution is Date.now()'s millisecond.

/** One deadline; `fire` runs once when it passes (unless cancelled or refreshed first). */
export class TimerEntry {
  deadline = 0;
  prev: TimerEntry | undefined = undefined;
  next: TimerEntry | undefined = undefined;
  list: TimerList | undefined = undefined;

  constructor(readonly fire: () => void) {}

  /** Pushes the deadline to now + the list's duration (idle timers on activity). */
  refresh(): void {
    const l = this.list;
    if (l === undefined) return;
    l.unlink(this);
    l.append(this);
  }

  cancel(): void {
    this.list?.unlink(this);
  }

  get armed(): boolean {
    return this.list !== undefined;
  }
}

export class TimerList {
  private head: TimerEntry | undefined;
  private tail: TimerEntry | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly ms: number) {}

  /** Arms `e` (which must not be armed) for now + ms. */
  add(e: TimerEntry): TimerEntry {
    if (e.list !== undefined) e.list.unlink(e);
    this.append(e);
    return e;
  }

  /** A new entry armed for now + ms. */
  start(fire: () => void): TimerEntry {
    const e = new TimerEntry(fire);
    this.append(e);
    return e;
  }

  /** @internal */
  append(e: TimerEntry): void {
    e.deadline = Date.now() + this.ms;
    e.list = this;
    e.prev = this.tail;
    e.next = undefined;
    if (this.tail) this.tail.next = e;
    else this.head = e;
    this.tail = e;
    // Entries only ever get later deadlines at the tail: the armed timer stays right unless none is.
    if (this.timer === undefined) this.arm(e.deadline);
  }

  /** @internal */
  unlink(e: TimerEntry): void {
    if (e.list !== this) return;
    if (e.prev) e.prev.next = e.next;
    else this.head = e.next;
    if (e.next) e.next.prev = e.prev;
    else this.tail = e.prev;
    e.prev = e.next = undefined;
    e.list = undefined;
  }

  private arm(at: number): void {
    this.timer = setTimeout(() => this.expire(), Math.max(1, at - Date.now()));
    this.timer.unref();
  }

  private expire(): void {
    this.timer = undefined;
    const now = Date.now();
    let e = this.head;
    while (e !== undefined && e.deadline <= now) {
      this.unlink(e);
      try {
        e.fire();
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
      e = this.head;
    }
    if (this.head !== undefined && this.timer === undefined) this.arm(this.head.deadline);
  }
}

const lists = new Map<number, TimerList>();
let lastMs = -1;
let lastList: TimerList | undefined;

/** The shared list for a duration (ms > 0). */
export function timerList(ms: number): TimerList {
  if (ms === lastMs) return lastList!;
  let l = lists.get(ms);
  if (l === undefined) {
    if (lists.size > 256) lists.clear(); // durations come from config; bound the map anyway
    lists.set(ms, (l = new TimerList(ms)));
  }
  lastMs = ms;
  lastList = l;
  return l;
}

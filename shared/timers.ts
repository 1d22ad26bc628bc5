/** Node's and workerd's timers hold at most 2^31-1 ms (about 24.8 days): a longer one fires at once. */
export const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

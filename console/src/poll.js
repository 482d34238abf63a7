// Polling that never overlaps: the next run is scheduled only after the
// previous one has finished (however slow the API is), and everything
// stops when the page's AbortSignal aborts (the user navigated away).

/// Runs `task` every `every` ms after the previous run finished, skipping
/// (but still rescheduling) while `paused()` holds, until `signal` aborts.
/// The first run is after `every` ms: a page loads its first data itself.
/// Answers `{ now() }`: run at once (a refresh after an action); if a run
/// is in flight, one more follows it, never two at the same time.
export function poll(task, every, { signal, paused = () => false }) {
  let timer = null;
  let running = false;
  let again = false;

  function schedule(delay) {
    clearTimeout(timer);
    timer = signal.aborted ? null : setTimeout(run, delay);
  }

  async function run({ forced = false } = {}) {
    timer = null;
    if (signal.aborted) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      if (forced || !paused()) await task();
    } catch {
      // The task shows its own errors; a failed run is retried next time.
    } finally {
      running = false;
    }
    if (again) {
      again = false;
      return run({ forced: true });
    }
    schedule(every);
  }

  signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
  schedule(every);
  return {
    now: () => {
      clearTimeout(timer);
      return run({ forced: true });
    },
  };
}

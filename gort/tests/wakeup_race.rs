//! Lost wake-ups: a goroutine made runnable from outside the runtime (a plain
//! thread's `go`/`run` puts it on the global queue and calls `wakep`) must be
//! run even when it races with the last spinning M giving up its P. `wakep`
//! does nothing while an M is spinning, so that M, once it stops counting
//! itself as a spinner, must look at the global queue again, or the goroutine
//! waits until something else wakes an M: with every P idle, for ever.
//!
//! A single plain thread in a tight `run` loop hits that window: every round,
//! the goroutine ends, the worker M spins, finds nothing and stops just as the
//! next round's goroutine is queued. Alone in this binary so that nothing else
//! wakes the Ms.

use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

/// Aborts the process (after a goroutine dump) unless dropped within `limit`.
struct Watchdog(Option<mpsc::Sender<()>>);

impl Watchdog {
    fn new(what: &'static str, limit: Duration) -> Watchdog {
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                // Not eprintln!: the test harness would capture it.
                let msg = format!(
                    "WATCHDOG: {what} did not finish within {limit:?} (a lost wake-up?)\n{}\n",
                    gort::debug::dump()
                );
                let _ = std::io::stderr().write_all(msg.as_bytes());
                std::process::abort();
            }
        });
        Watchdog(Some(tx))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.0.take());
    }
}

#[test]
fn run_in_a_tight_loop_from_one_thread() {
    let _w = Watchdog::new(
        "run_in_a_tight_loop_from_one_thread",
        Duration::from_secs(60),
    );
    let mut sum = 0u64;
    for i in 0..50_000u64 {
        sum += gort::run(move || i);
    }
    assert_eq!(sum, 50_000 * 49_999 / 2);
}

//! Callee-saved state survives goroutine switches (`mcall`/`gogo`), including
//! resuming on a different OS thread: a naked-asm caller loads canaries into
//! every callee-saved register of the host ABI (System V: RBX RBP R12–R15;
//! Win64: also RDI RSI and all 128 bits of XMM6–XMM15), MXCSR and the x87
//! control word, calls a function that yields, sleeps, spawns and joins, and
//! checks them afterwards.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[cfg(not(windows))]
#[path = "registers/sysv.rs"]
mod abi;
#[cfg(windows)]
#[path = "registers/win64.rs"]
mod abi;
use abi::call_with_canaries;

static THREAD_CHANGES: AtomicUsize = AtomicUsize::new(0);

/// The OS thread we are on (out of line: read afresh after every switch,
/// never a thread-local address the compiler kept from before it).
#[inline(never)]
fn thread_id() -> std::thread::ThreadId {
    std::thread::current().id()
}

/// Switches goroutines in every way the runtime offers, counting how often it
/// resumed on a different OS thread.
extern "C" fn switch_a_lot() {
    let mut last = thread_id();
    let mut note_thread = || {
        let now = thread_id();
        if now != last {
            THREAD_CHANGES.fetch_add(1, Ordering::Relaxed);
            last = now;
        }
    };
    for i in 0..20 {
        gort::yield_now();
        note_thread();
        if i % 5 == 0 {
            gort::sleep(Duration::from_micros(200));
            note_thread();
            // A blocking call long enough for sysmon to hand the P off: the
            // goroutine then resumes on whichever M picks it up.
            gort::blocking(|| std::thread::sleep(Duration::from_millis(1)));
            note_thread();
        }
        let h = gort::go(move || i * 2);
        assert_eq!(h.join().unwrap(), i * 2);
        note_thread();
    }
}

extern "C" fn nothing() {}

#[test]
fn canaries_survive_plain_call() {
    assert_eq!(call_with_canaries(nothing), 0);
}

#[test]
fn callee_saved_registers_survive_switches() {
    // Many goroutines at once so that some resume on another M.
    let masks = gort::run(|| {
        let hs: Vec<_> = (0..64)
            .map(|_| gort::go(|| call_with_canaries(switch_a_lot)))
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<u64>>()
    });
    for (i, m) in masks.iter().enumerate() {
        assert_eq!(*m, 0, "goroutine {i}: clobbered mask {m:#b}");
    }
    if gort::procs() > 1 {
        assert!(
            THREAD_CHANGES.load(Ordering::Relaxed) > 0,
            "no goroutine migrated; test proves little"
        );
    }
}

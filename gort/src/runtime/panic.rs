//! Goroutine panics are reported like std reports thread panics, naming the
//! goroutine instead of the OS thread it happened to run on:
//!
//! ```text
//! goroutine 17 panicked at src/main.rs:9:13:
//! index out of bounds: the len is 3 but the index is 7
//! ```
//!
//! The panic itself is caught at the goroutine's root (`spawn.rs`) and its payload
//! handed to `join`; nothing else in the process is affected. Panics on threads
//! that are not running a goroutine go to the previously installed hook unchanged.
//! A hook the program installed before the runtime started is called for
//! goroutine panics too, in place of this message (as it replaces std's); one
//! installed later replaces gort's hook altogether (see below for what that
//! costs).
//!
//! **A panicking goroutine owns its thread.** std keeps the panic count, and
//! the "inside the panic hook" flag, per OS thread: from the moment a panic
//! starts until a `catch_unwind` catches it, they belong to the thread. If the
//! goroutine switched out meanwhile (preempted in a slow hook, or parking in a
//! `Drop` while unwinding) and another goroutine ran on that thread, a panic
//! there would make std abort the process ("thread panicked while processing
//! panic"), `std::thread::panicking()` would be true in the wrong goroutine,
//! and the count would be decremented on whatever thread the first one
//! resumed on. So:
//! - the hook first wires the goroutine to its thread (`G.panicwired`, the
//!   runtime's own share of `lock_os_thread`, see `sched::locked`): until the
//!   panic is caught the goroutine runs only there and the thread runs
//!   nothing else. Parks, yields and preemptions hand the P to another M and
//!   the thread waits, as for a locked goroutine;
//! - the report (gort's message, or the user's hook) runs as in `blocking`:
//!   the goroutine keeps running on its thread, without being stopped, and
//!   if it takes long sysmon hands its P to another M, so a slow hook (a
//!   backtrace takes milliseconds) ends the time slice without the goroutine
//!   ever waiting for a P while it holds std's backtrace or stderr lock
//!   (which the goroutines on that P might then block on);
//! - std raises the count before the hook runs: an asynchronous preemption
//!   that lands in between finds the thread's count raised and wires the
//!   goroutine itself (`park::preempt_m`). That also covers, for
//!   preemptions, panics that never reach this hook (`resume_unwind`, or a
//!   hook installed after the runtime started); a goroutine that parks while
//!   unwinding such a panic is not covered, which is why `scope` wires
//!   before it resumes a caught panic;
//! - the hold ends at the goroutine's next voluntary switch after the
//!   thread's count is back at zero (`locked::at_switch`): after its root's
//!   `catch_unwind` (the goroutine's exit is a switch), `scope`'s, or the
//!   user's own. No
//!   hot path tests anything new: wired goroutines already take the slow
//!   branch of every switch.

use super::m::getg;
use std::io::Write;
use std::panic::PanicHookInfo;

pub(crate) fn install_hook() {
    let prev = std::panic::take_hook();
    // `take_hook` put std's default back: take that too, to tell whether
    // `prev` is the program's own hook (then it reports goroutine panics).
    let default = std::panic::take_hook();
    let custom = !std::ptr::eq(&*prev, &*default);
    drop(default);
    std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
        if getg().is_null() {
            return prev(info);
        }
        // First thing: from here the goroutine stays on this thread (see the
        // module comment), so `getg` below stays right.
        super::sched::locked::wire_for_panic();
        let gp = getg();
        as_blocking(|| if custom { prev(info) } else { report(gp, info) });
    }));
}

/// Runs `f` as in `blocking` (the P is handed off if `f` takes long, and the
/// goroutine is never stopped meanwhile) when the goroutine may enter it:
/// not when the panic came from inside a runtime critical section, where
/// `f` just runs.
fn as_blocking(f: impl FnOnce()) {
    let free = {
        let hold = super::m::NoPreempt::new();
        let m = hold.m();
        // SAFETY: the current thread's M (a goroutine's: not null).
        !m.is_null() && unsafe { (*m).locks } == u32::from(super::preempt::ENABLED)
    };
    if free { crate::blocking(f) } else { f() }
}

/// gort's own report of a panic in goroutine `gp`: one write to stderr.
fn report(gp: *mut super::g::G, info: &PanicHookInfo<'_>) {
    // SAFETY: the running goroutine's own descriptor.
    let (id, name) = unsafe { ((*gp).id, (*gp).name.as_deref().map(str::to_owned)) };
    let msg = payload_str(info.payload());
    let loc = info.location().map_or_else(String::new, |l| {
        format!(" at {}:{}:{}", l.file(), l.line(), l.column())
    });
    let who = match name {
        Some(n) => format!("goroutine {id} \"{n}\""),
        None => format!("goroutine {id}"),
    };
    let backtrace = match std::env::var("RUST_BACKTRACE") {
        Ok(v) if v != "0" => {
            // Walk the goroutine's own stack here; symbolise on g0, which has
            // the room (a goroutine stack may be nearly exhausted or small).
            let bt = std::backtrace::Backtrace::force_capture();
            let full = v == "full";
            super::sched::systemstack(|| {
                let text = bt.to_string();
                if full { text } else { short_backtrace(&text) }
            })
        }
        _ => String::new(),
    };
    // One write so lines from concurrent panics do not interleave.
    let text = format!("{who} panicked{loc}:\n{msg}\n{backtrace}");
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Trims a formatted backtrace the way std's `RUST_BACKTRACE=1` does: drop the
/// panic machinery above the panicking frame and the runtime below the goroutine's
/// closure.
fn short_backtrace(text: &str) -> String {
    // Split into frames: a frame starts with a line like "  12: symbol".
    let mut frames: Vec<String> = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        let starts_frame = t
            .split_once(": ")
            .is_some_and(|(n, _)| n.parse::<u32>().is_ok());
        match frames.last_mut() {
            Some(f) if !starts_frame => {
                f.push('\n');
                f.push_str(line);
            }
            _ => frames.push(line.to_owned()),
        }
    }
    let is_panic_machinery = |f: &String| {
        f.contains("rust_begin_unwind")
            || f.contains("core::panicking::")
            || f.contains("std::panicking::begin_panic")
            || f.contains("std::rt::panic_fmt")
    };
    let is_root = |f: &String| {
        f.contains("std::panicking::catch_unwind")
            || f.contains("std::panic::catch_unwind")
            || f.contains("std::panicking::try")
    };
    let start = frames
        .iter()
        .rposition(is_panic_machinery)
        .map_or(0, |i| i + 1);
    let end = frames[start..]
        .iter()
        .position(is_root)
        .map_or(frames.len(), |i| start + i);
    let mut out = String::from("stack backtrace:\n");
    for f in &frames[start..end] {
        out.push_str(f);
        out.push('\n');
    }
    out.push_str(
        "note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.\n",
    );
    out
}

pub(crate) fn payload_str(p: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = p.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = p.downcast_ref::<String>() {
        s
    } else {
        "Box<dyn Any>"
    }
}

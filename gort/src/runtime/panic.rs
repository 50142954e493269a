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

use super::m::getg;
use std::io::Write;
use std::panic::PanicHookInfo;

pub(crate) fn install_hook() {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
        let gp = getg();
        if gp.is_null() {
            return prev(info);
        }
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
    }));
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

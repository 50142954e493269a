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
                super::sched::systemstack(|| format!("{bt}\n"))
            }
            _ => String::new(),
        };
        // One write so lines from concurrent panics do not interleave.
        let text = format!("{who} panicked{loc}:\n{msg}\n{backtrace}");
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }));
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

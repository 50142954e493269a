//! ELF: each stretch is a section of its own name (`gort_nopreempt`,
//! `gort_callback`), which the linker bounds with `__start_<name>` and
//! `__stop_<name>` symbols, since the name is a valid C identifier.

/// The `gort_nopreempt` section, `[lo, hi)`.
pub(crate) fn nopreempt_text() -> (usize, usize) {
    unsafe extern "C" {
        static __start_gort_nopreempt: u8;
        static __stop_gort_nopreempt: u8;
    }
    (
        &raw const __start_gort_nopreempt as usize,
        &raw const __stop_gort_nopreempt as usize,
    )
}

/// The `gort_callback` section, `[lo, hi)`.
pub(crate) fn callback_text() -> (usize, usize) {
    unsafe extern "C" {
        static __start_gort_callback: u8;
        static __stop_gort_callback: u8;
    }
    // The bounds exist only if some of the section survives
    // `--gc-sections`, which a program without callbacks would not keep:
    // this reference keeps the anchor.
    core::hint::black_box(callback_text_anchor as extern "C" fn() as usize);
    (
        &raw const __start_gort_callback as usize,
        &raw const __stop_gort_callback as usize,
    )
}

/// An empty function in the callback text, so that every program has one
/// (see `callback_text`). Never called.
#[inline(never)]
#[unsafe(link_section = "gort_callback")]
extern "C" fn callback_text_anchor() {}

//! What a function's mangled name tells, for the symbol-table readers
//! (`symtab.rs`, ELF; `coff.rs`, PE/COFF): which function a path names, and
//! whether it is Rust. The readers differ in how they find names and
//! ranges; what a name means is the same in both formats.

/// Does the mangled `name` end the path `needle` (a path like
/// `9panicking13resume_unwind`: in v0 mangling the name ends there, in
/// legacy mangling its hash follows)? Not for a closure or other item
/// nested inside that function, whose names contain the path too.
pub(super) fn ends_path(name: &[u8], needle: &[u8]) -> bool {
    name.ends_with(needle)
        || name
            .windows(needle.len() + 3)
            .any(|w| w.starts_with(needle) && w.ends_with(b"17h"))
}

/// Is `name` a Rust symbol: v0 (`_R…`), or legacy (`_ZN…17h` + 16 hex
/// digits + `E`, then nothing or a compiler's suffix after a dot: LLVM's
/// `.llvm.<n>` on functions promoted across codegen units)? (Legacy names
/// contain dots of their own, `..` for `::` in generic arguments.)
pub(super) fn is_rust_symbol(name: &[u8]) -> bool {
    if name.starts_with(b"_R") {
        return true;
    }
    if !name.starts_with(b"_ZN") {
        return false;
    }
    // The hash: "17h", 16 hex digits, "E", at the end or before a dot.
    (0..name.len().saturating_sub(19)).any(|i| {
        let rest = &name[i..];
        rest.starts_with(b"17h")
            && rest[3..19].iter().all(u8::is_ascii_hexdigit)
            && rest[19] == b'E'
            && (rest.len() == 20 || rest[20] == b'.')
    })
}

/// `[lo, hi)` ranges sorted and merged where they overlap or touch: the
/// form `preempt` binary-searches.
pub(super) fn merged(mut v: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    v.sort_unstable();
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(v.len());
    for (lo, hi) in v {
        match out.last_mut() {
            Some(last) if lo <= last.1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{ends_path, is_rust_symbol, merged};

    #[test]
    fn rust_and_foreign_symbols_are_told_apart() {
        assert!(is_rust_symbol(b"_ZN4gort7runtime3foo17h0123456789abcdefE"));
        assert!(is_rust_symbol(b"_RNvCs1234_4gort3foo"));
        assert!(!is_rust_symbol(b"qsort"));
        assert!(!is_rust_symbol(b"_ZN9SomeClass6methodEv"));
        assert!(!is_rust_symbol(b"__rust_alloc"));
        assert!(is_rust_symbol(
            b"_ZN4gort7runtime3foo17h0123456789abcdefE.llvm.1234567"
        ));
        assert!(!is_rust_symbol(b"sqlite3VdbeExec.cold"));
    }

    #[test]
    fn a_path_names_its_function_not_the_items_nested_in_it() {
        let needle = b"9panicking13resume_unwind";
        assert!(ends_path(
            b"_RNvNtCs1_3std9panicking13resume_unwind",
            needle
        ));
        assert!(ends_path(
            b"_ZN3std9panicking13resume_unwind17h0123456789abcdefE",
            needle
        ));
        assert!(!ends_path(
            b"_RNvXNvNtCs1_3std9panicking13resume_unwindNtB2_9RewrapBox3get",
            needle
        ));
        assert!(!ends_path(
            b"_ZN3std9panicking13resume_unwind28_$u7b$$u7b$closure$u7d$$u7d$17h0123456789abcdefE",
            needle
        ));
    }

    #[test]
    fn ranges_are_sorted_and_merged() {
        assert_eq!(
            merged(vec![(30, 40), (0, 10), (10, 20), (5, 8), (50, 60)]),
            [(0, 20), (30, 40), (50, 60)]
        );
    }
}

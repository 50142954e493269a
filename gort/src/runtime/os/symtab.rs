//! Functions of the loaded program, from the ELF symbol table of the file it
//! was loaded from (`.symtab`: kept by Cargo's default profiles, which strip
//! debug information only).
//!
//! For code the runtime must tell apart but cannot name: std's
//! `panic_count::increase`, which is private to std, and the Rust functions
//! of the program, the only code `preempt` stops (not C linked into it, not
//! the PLT). A stripped binary has
//! no `.symtab`: the look-ups find nothing, and the caller does without.

use super::file_bytes::{read_at, u16_at, u32_at, u64_at};
use super::rust_symbols::{ends_path, is_rust_symbol, merged};
use std::io::Read;

/// The function symbols of one loaded object: run-time start, size, name.
pub(crate) struct Functions {
    base: usize,
    syms: Vec<u8>,
    strs: Vec<u8>,
}

impl Functions {
    /// The functions of the loaded object that holds `anchor`; None if its
    /// file has no symbol table. Reads the file: call it off the hot paths
    /// (once, at start-up).
    pub(crate) fn of_object(anchor: usize) -> Option<Functions> {
        let super::LoadedObject { base, path, .. } = super::loaded_object(anchor)?;
        let mut f = std::fs::File::open(path).ok()?;
        let mut eh = [0u8; 64];
        f.read_exact(&mut eh).ok()?;
        // ELF64, little-endian (every Linux target gort has).
        if &eh[..4] != b"\x7fELF" || eh[4] != 2 || eh[5] != 1 {
            return None;
        }
        let shoff = u64_at(&eh, 0x28);
        let shentsize = u16_at(&eh, 0x3a) as usize;
        let shnum = u16_at(&eh, 0x3c) as usize;
        if shentsize < 64 || shnum == 0 {
            return None;
        }
        let shdrs = read_at(&mut f, shoff, shentsize * shnum)?;
        let sh = |i: usize| &shdrs[i * shentsize..i * shentsize + 64];
        const SHT_SYMTAB: u32 = 2;
        let symtab = (0..shnum).map(sh).find(|s| u32_at(s, 4) == SHT_SYMTAB)?;
        let strtab_index = u32_at(symtab, 40) as usize;
        if strtab_index >= shnum {
            return None;
        }
        let strtab = sh(strtab_index);
        let syms = read_at(&mut f, u64_at(symtab, 24), u64_at(symtab, 32) as usize)?;
        let strs = read_at(&mut f, u64_at(strtab, 24), u64_at(strtab, 32) as usize)?;
        Some(Functions { base, syms, strs })
    }

    /// Every defined function: `(start, end, mangled name)`.
    fn iter(&self) -> impl Iterator<Item = (usize, usize, &[u8])> {
        const STT_FUNC: u8 = 2;
        self.syms.chunks_exact(24).filter_map(move |s| {
            let (name, info) = (u32_at(s, 0) as usize, s[4]);
            let (value, size) = (u64_at(s, 8) as usize, u64_at(s, 16) as usize);
            if info & 0xf != STT_FUNC || size == 0 || value == 0 || name >= self.strs.len() {
                return None;
            }
            let n = &self.strs[name..];
            let n = &n[..n.iter().position(|&b| b == 0).unwrap_or(n.len())];
            Some((self.base + value, self.base + value + size, n))
        })
    }

    /// `[lo, hi)` of the function whose mangled path ends with `needle` (see
    /// `rust_symbols::ends_path`: the function itself, not a closure or
    /// other item nested inside it).
    pub(crate) fn find_function(&self, needle: &[u8]) -> Option<(usize, usize)> {
        self.iter()
            .find(|(_, _, n)| ends_path(n, needle))
            .map(|(lo, hi, _)| (lo, hi))
    }

    /// The Rust functions, as sorted, merged `[lo, hi)` ranges: the code
    /// that `preempt` may stop. Rust symbols are mangled (`_ZN…17h<hash>E`,
    /// or `_R…` in v0); everything else — C (and C++, assembly) code linked
    /// into the object, the PLT's stubs (no symbols at all), the rare
    /// unmangled Rust function (`#[no_mangle]`) — is left out.
    pub(crate) fn rust_ranges(&self) -> Vec<(usize, usize)> {
        merged(
            self.iter()
                .filter(|(_, _, n)| is_rust_symbol(n))
                .map(|(lo, hi, _)| (lo, hi))
                .collect(),
        )
    }
}

/// `[lo, hi)` of the function whose mangled path ends with `needle`, in
/// the loaded object that holds `anchor` (see `Functions`).
#[cfg(test)]
pub(crate) fn function_range(anchor: usize, needle: &[u8]) -> Option<(usize, usize)> {
    Functions::of_object(anchor)?.find_function(needle)
}

#[cfg(test)]
mod tests {
    use super::function_range;

    #[test]
    fn finds_a_function_by_name_at_its_run_time_address() {
        let me = function_range as fn(usize, &[u8]) -> Option<(usize, usize)> as usize;
        let t = std::time::Instant::now();
        let (lo, hi) = function_range(me, b"6symtab14function_range").expect("in .symtab");
        eprintln!("look-up took {:?}", t.elapsed());
        assert!(lo <= me && me < hi, "{lo:#x}..{hi:#x} vs {me:#x}");
    }

    #[test]
    fn finds_std_panic_count_increase() {
        let anchor = std::panic::resume_unwind as fn(Box<dyn std::any::Any + Send>) -> ! as usize;
        let (lo, hi) = function_range(anchor, b"11panic_count8increase").expect("in .symtab");
        assert!(lo < hi && hi - lo < 4096, "{lo:#x}..{hi:#x}");
    }

    #[test]
    #[cfg_attr(
        gort_asan,
        ignore = "ASan's runtime (C++) linked into the binary is more than 2 % of its code"
    )]
    fn rust_code_is_most_of_a_rust_program() {
        let me = function_range as fn(usize, &[u8]) -> Option<(usize, usize)> as usize;
        let funcs = super::Functions::of_object(me).expect("in .symtab");
        let ranges = funcs.rust_ranges();
        let rust: usize = ranges.iter().map(|(lo, hi)| hi - lo).sum();
        let all: usize = funcs.iter().map(|(lo, hi, _)| hi - lo).sum();
        // This test binary is std, gort and its tests: Rust but for a few
        // runtime-support and libc start-up functions.
        assert!(rust * 50 > all * 49, "{rust} of {all} bytes taken for Rust");
        assert!(ranges.windows(2).all(|w| w[0].1 < w[1].0), "sorted, merged");
        assert!(ranges.iter().any(|&(lo, hi)| lo <= me && me < hi));
        // `main` (unmangled, std's start-up glue) is in this object and is
        // not taken for Rust.
        let main = funcs
            .iter()
            .find(|(_, _, n)| *n == b"main")
            .map(|(lo, _, _)| lo)
            .expect("main in .symtab");
        assert!(
            !ranges.iter().any(|&(lo, hi)| lo <= main && main < hi),
            "main taken for Rust"
        );
    }

    #[test]
    fn absent_names_are_none() {
        let anchor = std::panic::resume_unwind as fn(Box<dyn std::any::Any + Send>) -> ! as usize;
        assert_eq!(
            function_range(anchor, b"no_such_function_anywhere_xyz"),
            None
        );
    }
}

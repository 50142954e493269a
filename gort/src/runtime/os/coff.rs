//! Windows: the loaded module (the executable or a DLL) holding an address,
//! from its in-memory PE headers, and its functions, from the COFF symbol
//! table of the file it was loaded from (written by GNU ld, which links the
//! `*-windows-gnu` targets, and kept by Cargo's default profiles, which
//! strip debug information only; MSVC's linker never writes one, its
//! symbols go to the PDB).
//!
//! The sibling of `symtab.rs` (ELF), for the same code the runtime must
//! tell apart but cannot name: std's `panic_count::increase` and
//! `panicking::resume_unwind`, private to std, and the Rust functions of
//! the program, the only code `preempt` stops (not C linked into it, not
//! the import thunks). A stripped binary has no symbol table: the look-ups
//! find nothing, and the caller does without.

use super::file_bytes::{read_at, u16_at, u32_at};
use super::rust_symbols::{ends_path, is_rust_symbol, merged};
use windows_sys::Win32::Foundation::HMODULE;
use windows_sys::Win32::System::Diagnostics::Debug::{
    IMAGE_FILE_HEADER, IMAGE_SCN_MEM_EXECUTE, IMAGE_SECTION_HEADER,
};
use windows_sys::Win32::System::LibraryLoader::{
    GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS, GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
    GetModuleFileNameW, GetModuleHandleExW,
};
use windows_sys::Win32::System::SystemServices::{
    IMAGE_DOS_HEADER, IMAGE_DOS_SIGNATURE, IMAGE_NT_SIGNATURE,
};

/// A loaded module (the executable or a DLL), as the loader mapped it.
pub(crate) struct LoadedObject {
    /// Its load address (its `HMODULE`): what its sections' addresses are
    /// relative to.
    pub base: usize,
    /// Its code: `[lo, hi)` spanning its executable sections.
    pub text: (usize, usize),
    /// The file it was loaded from.
    pub path: std::path::PathBuf,
}

/// The loaded module with an image containing `addr`. With an unchanged
/// reference count: the caller keeps the module loaded while this runs (the
/// runtime asks about its own code, in the executable, always loaded).
pub(crate) fn loaded_object(addr: usize) -> Option<LoadedObject> {
    let mut h: HMODULE = core::ptr::null_mut();
    // SAFETY: with FROM_ADDRESS the name argument is only used as an address
    // inside the module, never read; `h` is a valid out-pointer.
    let ok = unsafe {
        GetModuleHandleExW(
            GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
            addr as *const u16,
            &mut h,
        )
    };
    if ok == 0 || h.is_null() {
        return None;
    }
    let base = h as usize;
    // SAFETY: `base` is the HMODULE just returned: the image of a module
    // loaded for the duration of the call.
    let (_, sections) = unsafe { headers(base) }?;
    let (mut lo, mut hi) = (usize::MAX, 0);
    for s in sections
        .iter()
        .filter(|s| s.Characteristics & IMAGE_SCN_MEM_EXECUTE != 0)
    {
        let (s, e) = section_range(base, s);
        lo = lo.min(s);
        hi = hi.max(e);
    }
    let text = if lo < hi { (lo, hi) } else { (0, 0) };
    Some(LoadedObject {
        base,
        text,
        path: module_path(h)?,
    })
}

/// The executable code (`[lo, hi)` spanning its executable sections) of the
/// loaded module containing `addr`; `(0, 0)` if not found.
pub(crate) fn text_range(addr: usize) -> (usize, usize) {
    loaded_object(addr).map_or((0, 0), |o| o.text)
}

/// The COFF file header and the section table of the image mapped at
/// `base`, copied out (a DLL's headers go when it is unloaded).
///
/// # Safety
/// `base` is the `HMODULE` of a module loaded for the duration of the call.
unsafe fn headers(base: usize) -> Option<(IMAGE_FILE_HEADER, Vec<IMAGE_SECTION_HEADER>)> {
    // SAFETY: the loader mapped the headers at `base` and checked them when
    // it loaded the module: the DOS header, the NT headers at `e_lfanew`
    // and the section table after the optional header lie in that mapping
    // (`SizeOfHeaders`). Unaligned reads: nothing in the format promises
    // `e_lfanew` is aligned.
    unsafe {
        let dos = core::ptr::read_unaligned(base as *const IMAGE_DOS_HEADER);
        if dos.e_magic != IMAGE_DOS_SIGNATURE {
            return None;
        }
        let nt = base + dos.e_lfanew as usize;
        if core::ptr::read_unaligned(nt as *const u32) != IMAGE_NT_SIGNATURE {
            return None;
        }
        let fh = core::ptr::read_unaligned((nt + 4) as *const IMAGE_FILE_HEADER);
        // The section table follows the optional header, whatever its size
        // (PE32 or PE32+).
        let first = nt + 4 + size_of::<IMAGE_FILE_HEADER>() + fh.SizeOfOptionalHeader as usize;
        let sections = (0..fh.NumberOfSections as usize)
            .map(|i| {
                core::ptr::read_unaligned(
                    (first + i * size_of::<IMAGE_SECTION_HEADER>()) as *const IMAGE_SECTION_HEADER,
                )
            })
            .collect();
        Some((fh, sections))
    }
}

/// `[lo, hi)` of a section at run time: its `VirtualSize` counts the bytes
/// mapped, `SizeOfRawData` only those in the file (rounded up to the file
/// alignment, past the code).
fn section_range(base: usize, s: &IMAGE_SECTION_HEADER) -> (usize, usize) {
    let lo = base + s.VirtualAddress as usize;
    // SAFETY: both members of the union are a u32 (`VirtualSize` in an
    // image, `PhysicalAddress` in an object file).
    (lo, lo + unsafe { s.Misc.VirtualSize } as usize)
}

/// The section a symbol's section number names: 1-based (0 is undefined,
/// the negative ones absolute values and debugging entries).
fn section(sections: &[IMAGE_SECTION_HEADER], n: i16) -> Option<&IMAGE_SECTION_HEADER> {
    sections.get(usize::try_from(n).ok()?.checked_sub(1)?)
}

/// The file the module `h` was loaded from.
fn module_path(h: HMODULE) -> Option<std::path::PathBuf> {
    use std::os::windows::ffi::OsStringExt;
    let mut buf = vec![0u16; 260];
    loop {
        // SAFETY: `buf` is a live, writable buffer of `buf.len()` u16s.
        let n = unsafe { GetModuleFileNameW(h, buf.as_mut_ptr(), buf.len() as u32) } as usize;
        if n == 0 {
            return None;
        }
        // A name that filled the buffer may have been cut: retry with more,
        // up to the longest path Windows has (32767 u16s).
        if n < buf.len() {
            buf.truncate(n);
            return Some(std::ffi::OsString::from_wide(&buf).into());
        }
        if buf.len() > 1 << 15 {
            return None;
        }
        buf.resize(buf.len() * 2, 0);
    }
}

/// A symbol table record: name, value, section number, type, storage
/// class, number of auxiliary records following it.
const SYM_SIZE: usize = 18;

/// The function symbols of one loaded module: run-time start and end, and
/// where the symbol's record is (for its name).
pub(crate) struct Functions {
    syms: Vec<u8>,
    strs: Vec<u8>,
    funcs: Vec<(usize, usize, usize)>,
}

impl Functions {
    /// The functions of the loaded module that holds `anchor`; None if its
    /// file has no symbol table. Reads the file: call it off the hot paths
    /// (once, at start-up).
    pub(crate) fn of_object(anchor: usize) -> Option<Functions> {
        let LoadedObject { base, path, .. } = loaded_object(anchor)?;
        // SAFETY: `base` is the module holding `anchor`, which the caller
        // keeps loaded (its own code).
        let (fh, sections) = unsafe { headers(base) }?;
        let (symoff, nsyms) = (fh.PointerToSymbolTable as u64, fh.NumberOfSymbols as usize);
        if symoff == 0 || nsyms == 0 {
            return None;
        }
        let mut f = std::fs::File::open(path).ok()?;
        // The file must be the module's own, not one that replaced it on
        // disk since it was loaded (a rebuild while it runs, after renaming
        // the running one): its COFF file header is the one in memory,
        // time stamp and symbol table included.
        let dos = read_at(&mut f, 0, 64)?;
        let nt = read_at(&mut f, u32_at(&dos, 0x3c) as u64, 24)?;
        let same = u32_at(&nt, 0) == IMAGE_NT_SIGNATURE
            && u16_at(&nt, 6) == fh.NumberOfSections
            && u32_at(&nt, 8) == fh.TimeDateStamp
            && u32_at(&nt, 12) == fh.PointerToSymbolTable
            && u32_at(&nt, 16) == fh.NumberOfSymbols;
        if !same {
            return None;
        }
        let syms = read_at(&mut f, symoff, nsyms.checked_mul(SYM_SIZE)?)?;
        // The string table follows the symbols; its first 4 bytes are its
        // size, those 4 included (names' offsets count from its start).
        let strs_at = symoff + syms.len() as u64;
        let strs_len = u32_at(&read_at(&mut f, strs_at, 4)?, 0) as usize;
        let strs = read_at(&mut f, strs_at, strs_len.max(4))?;

        let code = |n: i16| {
            let s = section(&sections, n)?;
            (s.Characteristics & IMAGE_SCN_MEM_EXECUTE != 0).then(|| section_range(base, s))
        };
        // COFF symbols have no size: a function ends where the next symbol
        // in its section starts, or the section does. Every symbol in code
        // but a label is a bound, not only functions': the import thunks
        // (`jmp *__imp_X`, typeless) and a section's start (`.text` of one
        // C object) end the function before them.
        let mut bounds: Vec<usize> = sections
            .iter()
            .filter(|s| s.Characteristics & IMAGE_SCN_MEM_EXECUTE != 0)
            .map(|s| section_range(base, s).1)
            .collect();
        let mut starts = Vec::new();
        for (at, s) in records(&syms) {
            let Some((lo, hi)) = code(u16_at(s, 12) as i16) else {
                continue;
            };
            let addr = lo + u32_at(s, 8) as usize;
            if addr >= hi {
                continue;
            }
            // Labels (in assembly, some within a function) are no bounds.
            const LABEL: u8 = 6;
            if s[16] != LABEL {
                bounds.push(addr);
            }
            // Functions: external or static, of type "function" (0x20:
            // binutils' ISFCN, the derived-type bits). What rustc and gcc
            // emit for every function; the thunks, labels and section
            // symbols in code are typeless.
            const EXTERNAL: u8 = 2;
            const STATIC: u8 = 3;
            if u16_at(s, 14) & 0x30 == 0x20 && matches!(s[16], EXTERNAL | STATIC) {
                starts.push((addr, at));
            }
        }
        bounds.sort_unstable();
        bounds.dedup();
        let funcs = starts
            .into_iter()
            .map(|(lo, at)| (lo, bounds[bounds.partition_point(|&b| b <= lo)], at))
            .collect();
        Some(Functions { syms, strs, funcs })
    }

    /// Every defined function: `(start, end, mangled name)`.
    fn iter(&self) -> impl Iterator<Item = (usize, usize, &[u8])> {
        self.funcs
            .iter()
            .map(move |&(lo, hi, at)| (lo, hi, self.name(&self.syms[at..at + SYM_SIZE])))
    }

    /// A symbol record's name: up to 8 bytes in the record itself
    /// (NUL-padded), or, if its first 4 bytes are 0, at the offset in the
    /// string table that the next 4 give.
    fn name<'a>(&'a self, s: &'a [u8]) -> &'a [u8] {
        let n = if u32_at(s, 0) == 0 {
            self.strs.get(u32_at(s, 4) as usize..).unwrap_or_default()
        } else {
            &s[..8]
        };
        &n[..n.iter().position(|&b| b == 0).unwrap_or(n.len())]
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
    /// or `_R…` in v0); everything else — C (and assembly) code linked into
    /// the module, mingw's start-up code, the import thunks (no function
    /// symbols at all), the rare unmangled Rust function (`#[no_mangle]`) —
    /// is left out.
    pub(crate) fn rust_ranges(&self) -> Vec<(usize, usize)> {
        merged(
            self.iter()
                .filter(|(_, _, n)| is_rust_symbol(n))
                .map(|(lo, hi, _)| (lo, hi))
                .collect(),
        )
    }
}

/// The symbol records, with their offsets in `syms`, auxiliary records
/// (a section's or a file's details, after the record they belong to)
/// skipped.
fn records(syms: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut at = 0;
    core::iter::from_fn(move || {
        let s = syms.get(at..at + SYM_SIZE)?;
        let this = at;
        at += SYM_SIZE * (1 + s[17] as usize);
        Some((this, s))
    })
}

/// `[lo, hi)` of the function whose mangled path ends with `needle`, in
/// the loaded module that holds `anchor` (see `Functions`).
#[cfg(test)]
pub(crate) fn function_range(anchor: usize, needle: &[u8]) -> Option<(usize, usize)> {
    Functions::of_object(anchor)?.find_function(needle)
}

#[cfg(test)]
mod tests {
    use super::{Functions, IMAGE_SCN_MEM_EXECUTE, function_range, loaded_object};

    fn me() -> usize {
        function_range as fn(usize, &[u8]) -> Option<(usize, usize)> as usize
    }

    #[test]
    fn finds_a_function_by_name_at_its_run_time_address() {
        let me = me();
        let t = std::time::Instant::now();
        let (lo, hi) = function_range(me, b"4coff14function_range").expect("in the symbol table");
        eprintln!("look-up took {:?}", t.elapsed());
        assert!(lo <= me && me < hi, "{lo:#x}..{hi:#x} vs {me:#x}");
    }

    #[test]
    fn finds_std_panic_count_increase() {
        let anchor = std::panic::resume_unwind as fn(Box<dyn std::any::Any + Send>) -> ! as usize;
        for name in [&b"11panic_count8increase"[..], b"9panicking13resume_unwind"] {
            let (lo, hi) = function_range(anchor, name).expect("in the symbol table");
            assert!(lo < hi && hi - lo < 4096, "{lo:#x}..{hi:#x}");
        }
    }

    #[test]
    fn the_module_of_an_address_is_the_executable_or_its_dll() {
        let me = me();
        let exe = loaded_object(me).expect("the executable");
        assert!(exe.text.0 <= me && me < exe.text.1);
        let ext = |p: &std::path::Path| p.extension().map(|e| e.to_ascii_lowercase());
        assert_eq!(ext(&exe.path).as_deref(), Some("exe".as_ref()));
        // A function of kernel32.dll: another module. (Not through the
        // function's Rust name: that is the executable's import thunk.)
        use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
        let kernel32: Vec<u16> = "kernel32.dll\0".encode_utf16().collect();
        // SAFETY: NUL-terminated names; kernel32 is loaded in every process.
        let dll_fn = unsafe {
            GetProcAddress(
                GetModuleHandleW(kernel32.as_ptr()),
                c"GetModuleFileNameW".as_ptr().cast(),
            )
        }
        .expect("kernel32's GetModuleFileNameW") as usize;
        let dll = loaded_object(dll_fn).expect("a DLL");
        assert_ne!(dll.base, exe.base);
        assert!(dll.text.0 <= dll_fn && dll_fn < dll.text.1);
        assert_eq!(ext(&dll.path).as_deref(), Some("dll".as_ref()));
        assert!(loaded_object(0x10).is_none(), "no module at 0x10");
    }

    #[test]
    fn rust_code_is_most_of_a_rust_program() {
        let me = me();
        let funcs = Functions::of_object(me).expect("in the symbol table");
        let ranges = funcs.rust_ranges();
        let rust: usize = ranges.iter().map(|(lo, hi)| hi - lo).sum();
        let all: usize = funcs.iter().map(|(lo, hi, _)| hi - lo).sum();
        // This test binary is std, the crate and its tests: Rust but for
        // mingw's start-up code, libgcc's unwinder and msvcrt's stubs, some
        // 20 KB whatever the program (2% of a small test binary's 1 MB of
        // code, optimised).
        assert!(rust * 20 > all * 19, "{rust} of {all} bytes taken for Rust");
        assert!(ranges.windows(2).all(|w| w[0].1 < w[1].0), "sorted, merged");
        assert!(ranges.iter().any(|&(lo, hi)| lo <= me && me < hi));
    }

    /// Every symbol in the executable's code: run-time address, type,
    /// storage class, name.
    fn code_symbols(funcs: &Functions) -> Vec<(usize, u16, u8, &[u8])> {
        let base = loaded_object(me()).expect("the executable").base;
        // SAFETY: the executable is loaded.
        let (_, sections) = unsafe { super::headers(base) }.expect("PE headers");
        super::records(&funcs.syms)
            .filter_map(|(_, s)| {
                let sec = super::section(&sections, super::u16_at(s, 12) as i16)?;
                (sec.Characteristics & IMAGE_SCN_MEM_EXECUTE != 0).then(|| {
                    let addr = super::section_range(base, sec).0 + super::u32_at(s, 8) as usize;
                    (addr, super::u16_at(s, 14), s[16], funcs.name(s))
                })
            })
            .collect()
    }

    #[test]
    fn foreign_code_is_not_taken_for_rust() {
        let funcs = Functions::of_object(me()).expect("in the symbol table");
        let ranges = funcs.rust_ranges();
        let rust = |pc: usize| ranges.iter().any(|&(lo, hi)| lo <= pc && pc < hi);
        // `main` (std's start-up glue, unmangled), mingw's start-up code.
        for name in [&b"main"[..], b"mainCRTStartup", b"__tmainCRTStartup"] {
            let (lo, _, _) = funcs
                .iter()
                .find(|(_, _, n)| *n == name)
                .unwrap_or_else(|| panic!("{} in the symbol table", name.escape_ascii()));
            assert!(!rust(lo), "{} taken for Rust", name.escape_ascii());
        }
        // The import thunks: typeless external symbols in code, each a
        // `jmp *__imp_<name>(%rip)` (ff 25).
        let syms = code_symbols(&funcs);
        let thunks: Vec<usize> = syms
            .iter()
            .filter(|&&(_, ty, class, _)| ty == 0 && class == 2)
            // SAFETY: the symbol's address is in this executable's mapped code.
            .filter(|&&(pc, ..)| unsafe { *(pc as *const [u8; 2]) } == [0xff, 0x25])
            .map(|&(pc, ..)| pc)
            .collect();
        assert!(thunks.len() > 10, "{} import thunks", thunks.len());
        for pc in thunks {
            assert!(!rust(pc), "import thunk at {pc:#x} taken for Rust");
        }
    }

    /// The compiler's own extents of the functions, from `.pdata` (the
    /// unwind table: begin, end, unwind data, each an offset from the
    /// image base), agree with those told by the next symbol: none ends
    /// past the start of what follows it.
    #[test]
    fn functions_end_where_the_unwind_table_says() {
        let exe = loaded_object(me()).expect("the executable");
        let funcs = Functions::of_object(me()).expect("in the symbol table");
        // SAFETY: the executable is loaded.
        let (_, sections) = unsafe { super::headers(exe.base) }.expect("PE headers");
        let pdata = sections
            .iter()
            .find(|s| &s.Name == b".pdata\0\0")
            .expect(".pdata");
        let (lo, hi) = super::section_range(exe.base, pdata);
        // SAFETY: the section is mapped, read-only, for as long as the
        // executable is.
        let pdata = unsafe { core::slice::from_raw_parts(lo as *const u8, hi - lo) };
        let starts: std::collections::HashMap<usize, usize> =
            funcs.iter().map(|(lo, hi, _)| (lo, hi)).collect();
        let mut checked = 0;
        for e in pdata.chunks_exact(12) {
            let begin = exe.base + super::u32_at(e, 0) as usize;
            let end = exe.base + super::u32_at(e, 4) as usize;
            if let Some(&hi) = starts.get(&begin) {
                assert!(
                    end <= hi,
                    "{begin:#x}: unwind table's end {end:#x}, ours {hi:#x}"
                );
                checked += 1;
            }
        }
        assert!(checked > 1000, "{checked} functions checked");
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

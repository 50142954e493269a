//! Is this Windows build running under Wine? Some OS behaviour differs there
//! from Windows itself (a socket closed with linger 0 may end the stream
//! instead of resetting it), and every kernel call that waits costs a
//! round trip through the wineserver, so loads are scaled down.

/// True when running under Wine: its ntdll exports `wine_get_version`,
/// Windows' does not.
#[cfg(windows)]
pub fn under_wine() -> bool {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleA, GetProcAddress};
    // SAFETY: NUL-terminated names; ntdll is loaded in every process.
    unsafe {
        let ntdll = GetModuleHandleA(c"ntdll.dll".as_ptr().cast());
        !ntdll.is_null() && GetProcAddress(ntdll, c"wine_get_version".as_ptr().cast()).is_some()
    }
}

/// Not Windows: never Wine.
#[cfg(not(windows))]
pub fn under_wine() -> bool {
    false
}

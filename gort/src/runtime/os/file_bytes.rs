//! Reading an object file's tables: a range of the file, little-endian
//! fields of it (both symbol-table readers, `symtab.rs` and `coff.rs`).

use std::io::{Read, Seek, SeekFrom};

/// `len` bytes of `f` from `off`; None on a short file or an absurd size.
pub(super) fn read_at(f: &mut std::fs::File, off: u64, len: usize) -> Option<Vec<u8>> {
    // Symbol tables of large programs run to a few MB; refuse absurd sizes
    // (a corrupt header) rather than allocate them.
    if len > 256 << 20 {
        return None;
    }
    let mut v = vec![0u8; len];
    f.seek(SeekFrom::Start(off)).ok()?;
    f.read_exact(&mut v).ok()?;
    Some(v)
}

pub(super) fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

pub(super) fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().unwrap())
}

#[cfg(target_os = "linux")]
pub(super) fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().unwrap())
}

//! Files whose system calls run inside `gort::blocking` (Go's approach: the
//! OS has no readiness for disk files): a read that waits for a slow disk
//! hands the goroutine's processor to another thread after ~20 µs, so the
//! other goroutines keep running. Outside goroutines these are std's calls.
//!
//! ```
//! gort::run(|| {
//!     let p = std::env::temp_dir().join(format!("gort-fs-doc-{}", std::process::id()));
//!     gort::fs::write(&p, b"hello").unwrap();
//!     assert_eq!(gort::fs::read_to_string(&p).unwrap(), "hello");
//!     std::fs::remove_file(&p).unwrap();
//! });
//! ```

use std::io::{self, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// `std::fs::read`, inside `blocking`.
pub fn read<P: AsRef<Path>>(path: P) -> io::Result<Vec<u8>> {
    crate::blocking(|| std::fs::read(path))
}

/// `std::fs::read_to_string`, inside `blocking`.
pub fn read_to_string<P: AsRef<Path>>(path: P) -> io::Result<String> {
    crate::blocking(|| std::fs::read_to_string(path))
}

/// `std::fs::write`, inside `blocking`.
pub fn write<P: AsRef<Path>, C: AsRef<[u8]>>(path: P, contents: C) -> io::Result<()> {
    crate::blocking(|| std::fs::write(path, contents))
}

/// `std::fs::metadata`, inside `blocking`.
pub fn metadata<P: AsRef<Path>>(path: P) -> io::Result<std::fs::Metadata> {
    crate::blocking(|| std::fs::metadata(path))
}

/// `std::fs::remove_file`, inside `blocking`.
pub fn remove_file<P: AsRef<Path>>(path: P) -> io::Result<()> {
    crate::blocking(|| std::fs::remove_file(path))
}

/// An open file (std's `File`) whose every call runs inside `blocking`.
/// `Read`, `Write` and `Seek` for `File` and `&File`.
#[derive(Debug)]
pub struct File {
    inner: std::fs::File,
}

impl File {
    /// Opens `path` for reading.
    pub fn open<P: AsRef<Path>>(path: P) -> io::Result<File> {
        crate::blocking(|| std::fs::File::open(path)).map(File::from)
    }

    /// Creates (or truncates) `path` for writing.
    pub fn create<P: AsRef<Path>>(path: P) -> io::Result<File> {
        crate::blocking(|| std::fs::File::create(path)).map(File::from)
    }

    /// Opens with std's `OpenOptions`: `File::open_with(path, std::fs::OpenOptions::new().append(true))`.
    pub fn open_with<P: AsRef<Path>>(path: P, options: &std::fs::OpenOptions) -> io::Result<File> {
        crate::blocking(|| options.open(path)).map(File::from)
    }

    /// Flushes data and metadata to the disk.
    pub fn sync_all(&self) -> io::Result<()> {
        crate::blocking(|| self.inner.sync_all())
    }

    /// Flushes data to the disk.
    pub fn sync_data(&self) -> io::Result<()> {
        crate::blocking(|| self.inner.sync_data())
    }

    /// Truncates or extends the file to `size` bytes.
    pub fn set_len(&self, size: u64) -> io::Result<()> {
        crate::blocking(|| self.inner.set_len(size))
    }

    /// The file's metadata.
    pub fn metadata(&self) -> io::Result<std::fs::Metadata> {
        crate::blocking(|| self.inner.metadata())
    }

    /// The std file underneath (its calls block the thread).
    pub fn into_std(self) -> std::fs::File {
        self.inner
    }
}

impl From<std::fs::File> for File {
    fn from(inner: std::fs::File) -> File {
        File { inner }
    }
}

impl Read for &File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        crate::blocking(|| (&self.inner).read(buf))
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        crate::blocking(|| (&self.inner).read_vectored(bufs))
    }
    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        crate::blocking(|| (&self.inner).read_to_end(buf))
    }
}

impl Write for &File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        crate::blocking(|| (&self.inner).write(buf))
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        crate::blocking(|| (&self.inner).write_vectored(bufs))
    }
    fn flush(&mut self) -> io::Result<()> {
        crate::blocking(|| (&self.inner).flush())
    }
}

impl Seek for &File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        crate::blocking(|| (&self.inner).seek(pos))
    }
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        (&*self).read_to_end(buf)
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}

impl Seek for File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self).seek(pos)
    }
}

//! `gort::fs`: the calls work like std's, and one that blocks in the kernel
//! (a read of a FIFO nobody writes yet, standing in for a slow disk) leaves
//! the goroutine's one processor to the other goroutines.

use std::io::{Read, Seek, SeekFrom, Write};

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("gort-fs-{}-{name}", std::process::id()))
}

#[test]
fn files_round_trip_like_std() {
    let p = temp("rt");
    gort::run({
        let p = p.clone();
        move || {
            gort::fs::write(&p, b"hello world").unwrap();
            assert_eq!(gort::fs::read(&p).unwrap(), b"hello world");
            assert_eq!(gort::fs::read_to_string(&p).unwrap(), "hello world");
            assert_eq!(gort::fs::metadata(&p).unwrap().len(), 11);
            let mut f = gort::fs::File::create(&p).unwrap();
            f.write_all(b"0123456789").unwrap();
            f.sync_all().unwrap();
            f.set_len(8).unwrap();
            drop(f);
            let mut f = gort::fs::File::open(&p).unwrap();
            f.seek(SeekFrom::Start(3)).unwrap();
            let mut s = String::new();
            f.read_to_string(&mut s).unwrap();
            assert_eq!(s, "34567");
            assert_eq!(f.metadata().unwrap().len(), 8);
            drop(f);
            let mut opts = std::fs::OpenOptions::new();
            opts.append(true);
            let mut f = gort::fs::File::open_with(&p, &opts).unwrap();
            f.write_all(b"!").unwrap();
            assert_eq!(gort::fs::read(&p).unwrap(), b"01234567!");
            // (Windows deletes an open file only once its last handle closes.)
            drop(f);
            gort::fs::remove_file(&p).unwrap();
            assert_eq!(
                gort::fs::read(&p).unwrap_err().kind(),
                std::io::ErrorKind::NotFound
            );
        }
    });
}

#[cfg(unix)]
#[test]
fn a_read_blocked_in_the_kernel_does_not_stall_the_processor() {
    let p = temp("fifo");
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid path string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (got, writer) = gort::run({
        let p = p.clone();
        move || {
            let old = gort::set_procs(1);
            // The reader says it has started before it blocks: with one
            // processor, a reader still waiting in the run queue when the
            // loop below ends would prove nothing.
            let (started_tx, started) = gort::chan::<()>(1);
            // Blocks in open(2) until a writer opens the FIFO.
            let reader = {
                let p = p.clone();
                gort::go(move || {
                    started_tx.send(()).unwrap();
                    gort::fs::read(&p)
                })
            };
            started.recv().unwrap();
            // The one processor still runs this to the end.
            let x = gort::go(|| {
                let mut x = 1u64;
                for i in 0..20_000_000u64 {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
                }
                std::hint::black_box(x)
            })
            .join()
            .unwrap();
            std::hint::black_box(x);
            assert!(!reader.is_finished());
            // The writer is a plain thread, joined outside the goroutine:
            // joining it here would block this goroutine's thread while it
            // holds the only processor the reader needs to finish.
            let writer = std::thread::spawn(move || std::fs::write(&p, b"from a thread").unwrap());
            let got = reader.join().unwrap().unwrap();
            gort::set_procs(old);
            (got, writer)
        }
    });
    writer.join().unwrap();
    assert_eq!(got, b"from a thread");
    std::fs::remove_file(&p).unwrap();
}

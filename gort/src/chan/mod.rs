//! Channels with Go's semantics and Rust's error conventions.
//!
//! ```text
//! chan/
//!   mod.rs     Sender, Receiver, chan(): the public face
//!   error.rs   the error types
//!   channel.rs Chan<T>: ring buffer, wait queues, send/recv/close (Go's hchan)
//!   waitq.rs   sudogs and their intrusive queues
//!   select.rs  select!'s runtime: poll in random order, park on every channel
//! ```

mod channel;
mod error;
pub(crate) mod select;
mod waitq;

use self::channel::{Chan, RecvResult, SendResult, Wait};
pub use error::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Makes a channel with room for `cap` values; `cap == 0` makes an unbuffered
/// one, where a send completes only when a receiver takes the value.
///
/// Both ends may be cloned and shared (many producers, many consumers). The
/// channel closes when `close` is called or the last `Sender` is dropped;
/// receivers then drain what is buffered and see `Err`. Blocking operations
/// park a goroutine and block a plain thread.
///
/// Like Go (and unlike `std::sync::mpsc`), dropping every `Receiver` does not
/// make sends fail: a send that needs a receiver waits for one.
///
/// ```
/// gort::run(|| {
///     let (tx, rx) = gort::chan::<u32>(0);
///     gort::go(move || {
///         for i in 0..3 {
///             tx.send(i).unwrap();
///         }
///     }); // dropping the last Sender closes the channel
///     assert_eq!(rx.iter().collect::<Vec<_>>(), [0, 1, 2]);
/// });
/// ```
pub fn chan<T: Send>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let c = Arc::new(Chan::new(cap));
    (Sender { chan: c.clone() }, Receiver { chan: c })
}

/// The sending end of a channel (see `chan`).
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving end of a channel (see `chan`).
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

fn deadline(d: Duration) -> Wait {
    Wait::Until(crate::runtime::parker::deadline_after(d))
}

impl<T> Sender<T> {
    /// Sends `v`, waiting for room (or, unbuffered, for a receiver). `Err`
    /// only if the channel is closed, with the value handed back.
    pub fn send(&self, v: T) -> Result<(), SendError<T>> {
        match self.chan.send(v, Wait::Forever) {
            SendResult::Sent => Ok(()),
            SendResult::Closed(v) => Err(SendError(v)),
            SendResult::Full(_) | SendResult::Timeout(_) => unreachable!(),
        }
    }

    /// Sends `v` only if that needs no wait.
    pub fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        match self.chan.send(v, Wait::No) {
            SendResult::Sent => Ok(()),
            SendResult::Closed(v) => Err(TrySendError::Closed(v)),
            SendResult::Full(v) => Err(TrySendError::Full(v)),
            SendResult::Timeout(_) => unreachable!(),
        }
    }

    /// Sends `v`, waiting at most `d`. On `Timeout` the value was not sent
    /// (never both: a receiver that takes it makes this `Ok`).
    pub fn send_timeout(&self, v: T, d: Duration) -> Result<(), SendTimeoutError<T>> {
        match self.chan.send(v, deadline(d)) {
            SendResult::Sent => Ok(()),
            SendResult::Closed(v) => Err(SendTimeoutError::Closed(v)),
            SendResult::Timeout(v) | SendResult::Full(v) => Err(SendTimeoutError::Timeout(v)),
        }
    }

    /// Closes the channel: blocked senders get `Err`, receivers drain what is
    /// buffered and then get `Err`. Returns false if it was already closed.
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Takes one buffered value out and drops it (timers empty their own
    /// channel on `stop`). True if there was one.
    pub(crate) fn drain_one(&self) -> bool {
        matches!(self.chan.recv(Wait::No), RecvResult::Received(_))
    }

    /// True if no `Receiver` is left (nobody can ever receive).
    pub(crate) fn receivers_gone(&self) -> bool {
        Arc::strong_count(&self.chan) <= self.chan.senders.load(Ordering::Acquire)
    }
}

impl<T> Receiver<T> {
    /// Receives a value, waiting for one. `Err` once the channel is closed and
    /// drained.
    pub fn recv(&self) -> Result<T, RecvError> {
        match self.chan.recv(Wait::Forever) {
            RecvResult::Received(v) => Ok(v),
            RecvResult::Closed => Err(RecvError),
            RecvResult::Empty | RecvResult::Timeout => unreachable!(),
        }
    }

    /// Receives a value only if one is ready.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        match self.chan.recv(Wait::No) {
            RecvResult::Received(v) => Ok(v),
            RecvResult::Closed => Err(TryRecvError::Closed),
            RecvResult::Empty | RecvResult::Timeout => Err(TryRecvError::Empty),
        }
    }

    /// Receives a value, waiting at most `d`.
    pub fn recv_timeout(&self, d: Duration) -> Result<T, RecvTimeoutError> {
        match self.chan.recv(deadline(d)) {
            RecvResult::Received(v) => Ok(v),
            RecvResult::Closed => Err(RecvTimeoutError::Closed),
            RecvResult::Empty | RecvResult::Timeout => Err(RecvTimeoutError::Timeout),
        }
    }

    /// Iterates over received values; ends when the channel is closed and
    /// drained.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// Iterates over the values ready now, without waiting.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    /// Handles (senders and receivers) on this channel, this one included.
    pub(crate) fn handles(&self) -> usize {
        Arc::strong_count(&self.chan)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.chan.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.close();
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        Receiver {
            chan: self.chan.clone(),
        }
    }
}

/// What both ends offer: the channel's state, and `Debug`.
macro_rules! either_end {
    ($end:ident) => {
        impl<T> $end<T> {
            /// Values buffered now.
            pub fn len(&self) -> usize {
                self.chan.len()
            }

            /// True if nothing is buffered now.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// The buffer's size (0 for an unbuffered channel).
            pub fn capacity(&self) -> usize {
                self.chan.capacity()
            }

            /// True once the channel has been closed (a receiver may still
            /// find values buffered).
            pub fn is_closed(&self) -> bool {
                self.chan.is_closed()
            }

            /// True if both handles belong to the same channel.
            pub fn same_channel(&self, other: &$end<T>) -> bool {
                Arc::ptr_eq(&self.chan, &other.chan)
            }
        }

        impl<T> fmt::Debug for $end<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($end))
                    .field("len", &self.len())
                    .field("capacity", &self.capacity())
                    .field("closed", &self.is_closed())
                    .finish()
            }
        }
    };
}

either_end!(Sender);
either_end!(Receiver);

/// Blocking iterator over a `Receiver` (see `Receiver::iter`).
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

/// Non-blocking iterator over a `Receiver` (see `Receiver::try_iter`).
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

/// Owning blocking iterator (see `Receiver`'s `IntoIterator`).
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

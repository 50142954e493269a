//! Cancellation, deadlines and request-scoped values (Go's `context`).
//!
//! A `Context` is a node in a tree. Three kinds: the background root (never
//! cancelled), value nodes (a key and a value, everything else from the
//! parent), and canceller nodes (`with_cancel`, `with_deadline`,
//! `with_timeout`): those own a `done` channel, closed when they are
//! cancelled, and know their live cancellable descendants.
//!
//! - Cancelling a node closes its channel, stops its deadline timer, and
//!   cancels every registered descendant with the same error; then it leaves
//!   its own parent's set (nothing keeps a cancelled node alive).
//! - Children are held weakly, so a derived context that is dropped without
//!   being cancelled simply leaves its parent's set (`Drop`): no leak, and no
//!   goroutine is ever started for a context.
//! - A deadline is a runtime timer that holds the node weakly; it is deleted
//!   when the node is cancelled or dropped.
//!
//! A deadline fires on a scheduler thread: cancellation takes only runtime
//! `Lock`s and closes channels (never waits), so that is safe there. If that
//! cancellation happens to drop the last reference to a context, its values
//! are dropped there too; values should not block in `Drop`.
//!
//! Lock order: a parent's lock is never held while a child's is taken
//! (children are cancelled after the parent's lock is released), and a
//! node's lock → its channel's lock → the timer heaps.

use crate::chan::{Receiver, Sender, chan};
use crate::runtime::lock::Lock;
use crate::runtime::os;
use crate::runtime::timers::{self, RTimer, TimerFn};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU8, Ordering};
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

/// Why a context is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContextError {
    /// Its `CancelFn` (or an ancestor's) was called.
    Canceled,
    /// Its deadline (or an ancestor's) passed.
    DeadlineExceeded,
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ContextError::Canceled => "context canceled",
            ContextError::DeadlineExceeded => "context deadline exceeded",
        })
    }
}

impl std::error::Error for ContextError {}

const NOT_DONE: u8 = 0;

fn err_code(e: ContextError) -> u8 {
    match e {
        ContextError::Canceled => 1,
        ContextError::DeadlineExceeded => 2,
    }
}

fn err_from(code: u8) -> Option<ContextError> {
    match code {
        1 => Some(ContextError::Canceled),
        2 => Some(ContextError::DeadlineExceeded),
        _ => None,
    }
}

/// A cancellation signal, deadline and values, passed down a call tree
/// (Go's `context.Context`). Cheap to clone; all methods take `&self`.
///
/// ```
/// use std::time::Duration;
/// use gort::context::{Context, ContextError};
/// gort::run(|| {
///     let (ctx, _cancel) = Context::background().with_timeout(Duration::from_millis(5));
///     let (_tx, never) = gort::chan::<()>(0);
///     gort::select! {
///         recv(never) -> _ => unreachable!(),
///         recv(ctx.done()) -> _ => assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded)),
///     }
/// });
/// ```
#[derive(Clone)]
pub struct Context {
    node: Arc<Node>,
}

/// Cancels the context it came with (and its descendants). Idempotent.
/// Dropping it does not cancel (Go's rule); the context is released when
/// every handle to it is gone.
pub struct CancelFn {
    node: Arc<Node>,
}

struct Node {
    parent: Option<Arc<Node>>,
    kind: Kind,
}

enum Kind {
    Background {
        done: Receiver<()>,
        // Never closed: kept for the program's life.
        _tx: Sender<()>,
    },
    Value {
        key: &'static str,
        value: Box<dyn Any + Send + Sync>,
    },
    Canceller(Canceller),
}

struct Canceller {
    done: Receiver<()>,
    tx: Sender<()>,
    /// The effective deadline (the earlier of its own and its parent's).
    deadline: Option<Instant>,
    /// `NOT_DONE` or an `err_code`; written under `lock`.
    err: AtomicU8,
    lock: Lock,
    /// Live cancellable descendants (by address), under `lock`.
    children: UnsafeCell<HashMap<usize, Weak<Node>>>,
    /// The deadline timer; its heap holds a `Weak<Node>` while queued.
    timer: RTimer,
}

// SAFETY: `children` is only touched with `lock` held.
unsafe impl Sync for Canceller {}
unsafe impl Send for Canceller {}

impl Node {
    fn canceller(&self) -> Option<&Canceller> {
        match &self.kind {
            Kind::Canceller(c) => Some(c),
            _ => None,
        }
    }

    /// The nearest node (this one or an ancestor) that can be cancelled.
    fn nearest_canceller(self: &Arc<Node>) -> Option<&Arc<Node>> {
        let mut n = self;
        loop {
            match &n.kind {
                Kind::Canceller(_) => return Some(n),
                Kind::Background { .. } => return None,
                Kind::Value { .. } => n = n.parent.as_ref().expect("value nodes have a parent"),
            }
        }
    }

    /// Cancels this canceller node with `err` and all its descendants.
    fn cancel(self: &Arc<Node>, err: ContextError, leave_parent: bool) {
        let c = self.canceller().expect("cancel on a canceller node");
        c.lock.lock();
        if c.err.load(Ordering::Relaxed) != NOT_DONE {
            c.lock.unlock();
            return;
        }
        c.err.store(err_code(err), Ordering::Release);
        c.tx.close();
        // SAFETY: lock held.
        let children = core::mem::take(unsafe { &mut *c.children.get() });
        c.lock.unlock();
        self.stop_timer();
        for child in children.values() {
            if let Some(child) = child.upgrade() {
                child.cancel(err, false);
            }
        }
        if leave_parent {
            self.leave_parent();
        }
    }

    /// Deletes a pending deadline timer, releasing the heap's reference.
    fn stop_timer(&self) {
        if let Some(c) = self.canceller()
            && timers::delete(&c.timer)
        {
            // SAFETY: the heap's `Weak`, made by `Weak::into_raw` in `arm`.
            drop(unsafe { Weak::from_raw(self as *const Node) });
        }
    }

    /// Removes this node from its nearest cancellable ancestor's set.
    fn leave_parent(&self) {
        let Some(p) = self.parent.as_ref().and_then(|p| p.nearest_canceller()) else {
            return;
        };
        let pc = p.canceller().expect("a canceller");
        pc.lock.lock();
        // SAFETY: lock held.
        unsafe { (*pc.children.get()).remove(&(self as *const Node as usize)) };
        pc.lock.unlock();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.canceller().is_some() {
            self.stop_timer();
            self.leave_parent();
        }
    }
}

/// A deadline passed (on a scheduler thread, no heap lock held).
unsafe fn deadline_fired(arg: usize, _now: i64) {
    // SAFETY: the heap's reference, from `Weak::into_raw` in `with_deadline`.
    let weak = unsafe { Weak::from_raw(arg as *const Node) };
    if let Some(node) = weak.upgrade() {
        node.cancel(ContextError::DeadlineExceeded, true);
    }
}

impl Context {
    /// The root context: never cancelled, no deadline, no values.
    pub fn background() -> Context {
        static BG: OnceLock<Context> = OnceLock::new();
        BG.get_or_init(|| {
            let (tx, done) = chan(0);
            Context {
                node: Arc::new(Node {
                    parent: None,
                    kind: Kind::Background { done, _tx: tx },
                }),
            }
        })
        .clone()
    }

    /// A child that is cancelled when `CancelFn::cancel` is called or this
    /// context is.
    pub fn with_cancel(&self) -> (Context, CancelFn) {
        self.with_canceller(None)
    }

    /// A child that is also cancelled, with `DeadlineExceeded`, at `deadline`
    /// (or at this context's deadline, if earlier).
    pub fn with_deadline(&self, deadline: Instant) -> (Context, CancelFn) {
        match self.deadline() {
            Some(d) if d <= deadline => self.with_canceller(None),
            _ => self.with_canceller(Some(deadline)),
        }
    }

    /// `with_deadline(now + timeout)`. A timeout too large for an `Instant`
    /// (`Duration::MAX`) is a deadline that never comes: the child is
    /// cancelled only by its `CancelFn` or an ancestor.
    pub fn with_timeout(&self, timeout: Duration) -> (Context, CancelFn) {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.with_deadline(deadline),
            None => self.with_canceller(None),
        }
    }

    fn with_canceller(&self, own_deadline: Option<Instant>) -> (Context, CancelFn) {
        let (tx, done) = chan(0);
        let node = Arc::new_cyclic(|w: &Weak<Node>| Node {
            parent: Some(self.node.clone()),
            kind: Kind::Canceller(Canceller {
                done,
                tx,
                deadline: own_deadline.or_else(|| self.deadline()),
                err: AtomicU8::new(NOT_DONE),
                lock: Lock::new(),
                children: UnsafeCell::new(HashMap::new()),
                timer: RTimer::new(TimerFn::Func(deadline_fired), w.as_ptr() as usize),
            }),
        });
        // Join the nearest cancellable ancestor's set, or inherit its state.
        if let Some(p) = self.node.nearest_canceller() {
            let pc = p.canceller().expect("a canceller");
            pc.lock.lock();
            let perr = err_from(pc.err.load(Ordering::Relaxed));
            if perr.is_none() {
                // SAFETY: lock held.
                unsafe {
                    (*pc.children.get()).insert(Arc::as_ptr(&node) as usize, Arc::downgrade(&node))
                };
            }
            pc.lock.unlock();
            if let Some(e) = perr {
                node.cancel(e, false);
            }
        }
        if let Some(d) = own_deadline {
            let now = Instant::now();
            if d <= now {
                node.cancel(ContextError::DeadlineExceeded, true);
            } else {
                let c = node.canceller().expect("a canceller");
                c.lock.lock();
                if c.err.load(Ordering::Relaxed) == NOT_DONE {
                    let ns = i64::try_from((d - now).as_nanos()).unwrap_or(i64::MAX);
                    // The heap's reference (a weak one: the timer does not
                    // keep the context alive).
                    let _ = Weak::into_raw(Arc::downgrade(&node));
                    // SAFETY: not queued (armed once, here); the node's
                    // allocation outlives the heap's weak reference.
                    unsafe { timers::add(&c.timer, os::nanotime().saturating_add(ns)) };
                }
                c.lock.unlock();
            }
        }
        (Context { node: node.clone() }, CancelFn { node })
    }

    /// A child that carries `value` under `key` (see `value`).
    pub fn with_value(&self, key: &'static str, value: impl Any + Send + Sync) -> Context {
        Context {
            node: Arc::new(Node {
                parent: Some(self.node.clone()),
                kind: Kind::Value {
                    key,
                    value: Box::new(value),
                },
            }),
        }
    }

    /// The value stored under `key` by the nearest `with_value` (this context
    /// or an ancestor), if it is a `V`.
    pub fn value<V: Any>(&self, key: &str) -> Option<&V> {
        let mut n = &self.node;
        loop {
            if let Kind::Value { key: k, value } = &n.kind
                && *k == key
            {
                return value.downcast_ref::<V>();
            }
            n = n.parent.as_ref()?;
        }
    }

    /// A channel that is closed when this context is cancelled (it never
    /// carries a value). Usable in `select!`.
    ///
    /// The context owns the channel's only sender: a clone of this receiver
    /// kept after every handle to an uncancelled derived context (and its
    /// `CancelFn`) is dropped sees the channel closed, although `err()` could
    /// no longer be asked. Keep the `Context` while you wait on `done()`.
    pub fn done(&self) -> &Receiver<()> {
        let mut n = &self.node;
        loop {
            match &n.kind {
                Kind::Canceller(c) => return &c.done,
                Kind::Background { done, .. } => return done,
                Kind::Value { .. } => n = n.parent.as_ref().expect("value nodes have a parent"),
            }
        }
    }

    /// `None` while not cancelled; then why.
    pub fn err(&self) -> Option<ContextError> {
        let c = self.node.nearest_canceller()?;
        err_from(c.canceller()?.err.load(Ordering::Acquire))
    }

    /// When this context will be cancelled by a deadline, if ever.
    pub fn deadline(&self) -> Option<Instant> {
        self.node.nearest_canceller()?.canceller()?.deadline
    }
}

impl CancelFn {
    /// Cancels the context (and its descendants) with `Canceled`, unless it
    /// is already done. Idempotent.
    pub fn cancel(&self) {
        self.node.cancel(ContextError::Canceled, true);
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("err", &self.err())
            .field("deadline", &self.deadline())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for CancelFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelFn").finish_non_exhaustive()
    }
}

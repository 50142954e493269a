//! `gort::context`: Go's `context` package (API.md, "Context").
//!
//! Background, cancellation (idempotent, propagated to every descendant, never
//! to ancestors or siblings), deadlines (own and inherited: the earlier one
//! wins), values (searched through ancestors), `done()` in `select!`, and no
//! leaks: dropping a `CancelFn` does not cancel, dropping derived contexts
//! detaches them, and finished contexts leave no goroutines behind (checked in
//! a child process, where no other test's goroutines are counted).
//!
//! Timing: only lower bounds ("not before the deadline") and "eventually".

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{child_mode, run_child_ok};
use gort::context::{CancelFn, Context, ContextError};
use gort::{RecvError, RecvTimeoutError, TryRecvError};

const EVENTUALLY: Duration = Duration::from_secs(10);
const MS: Duration = Duration::from_millis(1);

fn is_done(ctx: &Context) -> bool {
    match ctx.done().try_recv() {
        Err(TryRecvError::Closed) => true,
        Err(TryRecvError::Empty) => false,
        Ok(()) => panic!("done() delivered a value; it must only ever be closed"),
    }
}

fn is_canceled(ctx: &Context) -> bool {
    matches!(ctx.err(), Some(ContextError::Canceled)) && is_done(ctx)
}

fn is_live(ctx: &Context) -> bool {
    ctx.err().is_none() && !is_done(ctx)
}

/// Waits for `ctx.done()` to close; panics after `EVENTUALLY`.
fn wait_done(ctx: &Context) {
    match ctx.done().recv_timeout(EVENTUALLY) {
        Err(RecvTimeoutError::Closed) => {}
        Err(RecvTimeoutError::Timeout) => panic!("context never done"),
        Ok(()) => panic!("done() delivered a value; it must only ever be closed"),
    }
}

// ---------------------------------------------------------------- background

#[test]
fn background_never_ends() {
    let bg = Context::background();
    assert!(bg.deadline().is_none());
    assert!(bg.err().is_none());
    assert!(!bg.done().is_closed());
    assert!(matches!(bg.done().try_recv(), Err(TryRecvError::Empty)));
    assert!(matches!(
        bg.done().recv_timeout(20 * MS),
        Err(RecvTimeoutError::Timeout)
    ));
    assert!(bg.value::<u32>("anything").is_none());
    let copy = bg.clone();
    assert!(is_live(&copy));
    // Cancelling a child leaves background alone.
    let (child, cancel) = bg.with_cancel();
    cancel.cancel();
    assert!(is_canceled(&child));
    assert!(is_live(&bg) && is_live(&Context::background()));
}

// ---------------------------------------------------------------- with_cancel

#[test]
fn cancel_closes_done_and_sets_err() {
    let (ctx, cancel) = Context::background().with_cancel();
    assert!(is_live(&ctx));
    assert!(ctx.deadline().is_none());
    let copy = ctx.clone();
    cancel.cancel();
    // Synchronous, as in Go: visible as soon as cancel returns.
    assert!(matches!(ctx.err(), Some(ContextError::Canceled)));
    assert!(ctx.done().is_closed());
    assert!(matches!(ctx.done().recv(), Err(RecvError)));
    assert!(is_canceled(&copy), "a clone shares the cancellation");
    // Idempotent.
    cancel.cancel();
    cancel.cancel();
    assert!(matches!(ctx.err(), Some(ContextError::Canceled)));
    assert!(matches!(ctx.done().recv(), Err(RecvError)));
}

#[test]
fn cancel_wakes_every_waiter() {
    gort::run(|| {
        let (ctx, cancel) = Context::background().with_cancel();
        let waiters: Vec<_> = (0..16)
            .map(|_| {
                let ctx = ctx.clone();
                gort::go(move || ctx.done().recv_timeout(EVENTUALLY))
            })
            .collect();
        let thread_ctx = ctx.clone();
        let thread = std::thread::spawn(move || thread_ctx.done().recv_timeout(EVENTUALLY));
        gort::sleep(20 * MS);
        assert!(
            waiters.iter().all(|w| !w.is_finished()),
            "woken before cancel"
        );
        cancel.cancel();
        for w in waiters {
            assert!(matches!(w.join().unwrap(), Err(RecvTimeoutError::Closed)));
        }
        assert!(matches!(
            thread.join().unwrap(),
            Err(RecvTimeoutError::Closed)
        ));
    });
}

#[test]
fn cancel_from_another_goroutine_or_thread() {
    gort::run(|| {
        let (ctx, cancel) = Context::background().with_cancel();
        let canceller = gort::go(move || {
            gort::sleep(10 * MS);
            cancel.cancel();
        });
        wait_done(&ctx);
        assert!(is_canceled(&ctx));
        canceller.join().unwrap();

        let (ctx, cancel) = Context::background().with_cancel();
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(10 * MS);
            cancel.cancel();
        });
        wait_done(&ctx);
        assert!(is_canceled(&ctx));
        canceller.join().unwrap();
    });
}

#[test]
fn cancellation_propagates_down_never_up_or_sideways() {
    let bg = Context::background();
    let (root, cancel_root) = bg.with_cancel();
    let (a, cancel_a) = root.with_cancel();
    let (a1, _cancel_a1) = a.with_timeout(Duration::from_secs(3600));
    let (a1x, _cancel_a1x) = a1.with_cancel();
    let av = a.with_value("k", 1u8);
    let (a2, _cancel_a2) = av.with_cancel();
    let (b, _cancel_b) = root.with_cancel();
    let (b1, cancel_b1) = b.with_cancel();
    let (b1x, _cancel_b1x) = b1.with_deadline(Instant::now() + Duration::from_secs(3600));
    let bv = b1x.with_value("k", 2u8);

    let all = [&root, &a, &a1, &a1x, &av, &a2, &b, &b1, &b1x, &bv];
    assert!(all.iter().all(|c| is_live(c)));

    // Cancel a middle node: its whole subtree, nothing else.
    cancel_a.cancel();
    for (name, c) in [
        ("a", &a),
        ("a1", &a1),
        ("a1x", &a1x),
        ("av", &av),
        ("a2", &a2),
    ] {
        assert!(is_canceled(c), "{name} not cancelled with its ancestor a");
    }
    for (name, c) in [
        ("root", &root),
        ("b", &b),
        ("b1", &b1),
        ("b1x", &b1x),
        ("bv", &bv),
    ] {
        assert!(
            is_live(c),
            "{name} cancelled by a's cancel (an ancestor or sibling)"
        );
    }
    assert!(is_live(&bg));
    // Still so a little later (nothing asynchronous leaks upwards).
    std::thread::sleep(20 * MS);
    assert!(is_live(&root) && is_live(&b) && is_live(&b1x));

    // A deeper node in the other branch.
    cancel_b1.cancel();
    assert!(is_canceled(&b1) && is_canceled(&b1x) && is_canceled(&bv));
    assert!(is_live(&b) && is_live(&root));
    assert_eq!(bv.value::<u8>("k"), Some(&2), "values survive cancellation");

    // The root: everything.
    cancel_root.cancel();
    for c in all {
        assert!(is_canceled(c));
    }
    assert!(is_live(&bg));
}

#[test]
fn children_of_a_cancelled_context_start_cancelled() {
    let (parent, cancel) = Context::background().with_cancel();
    cancel.cancel();
    let (c, _f) = parent.with_cancel();
    assert!(is_canceled(&c));
    let (t, _f) = parent.with_timeout(Duration::from_secs(3600));
    assert!(
        is_canceled(&t),
        "err is the parent's (Canceled), not DeadlineExceeded"
    );
    let v = parent.with_value("x", 5i32);
    assert!(is_canceled(&v));
    assert_eq!(v.value::<i32>("x"), Some(&5));
}

#[test]
fn dropping_a_cancel_fn_does_not_cancel() {
    let (ctx, cancel) = Context::background().with_cancel();
    drop(cancel);
    assert!(is_live(&ctx));
    assert!(matches!(
        ctx.done().recv_timeout(30 * MS),
        Err(RecvTimeoutError::Timeout)
    ));
    assert!(ctx.err().is_none());

    // With a deadline: still ends at the deadline, not before, not at the drop.
    let start = Instant::now();
    let (ctx, cancel) = Context::background().with_timeout(40 * MS);
    drop(cancel);
    assert!(ctx.err().is_none());
    wait_done(&ctx);
    assert!(start.elapsed() >= 40 * MS);
    assert!(matches!(ctx.err(), Some(ContextError::DeadlineExceeded)));

    // The parent's cancellation still reaches a child whose CancelFn was dropped.
    let (parent, cancel_parent) = Context::background().with_cancel();
    let (child, cancel_child) = parent.with_cancel();
    drop(cancel_child);
    assert!(is_live(&child));
    cancel_parent.cancel();
    assert!(is_canceled(&child));
}

// ------------------------------------------------------------------ deadlines

#[test]
fn with_timeout_ends_with_deadline_exceeded() {
    let both = || {
        let d = 30 * MS;
        let start = Instant::now();
        let (ctx, _cancel) = Context::background().with_timeout(d);
        let deadline = ctx.deadline().expect("with_timeout sets a deadline");
        assert!(deadline >= start + d);
        assert!(deadline <= Instant::now() + d);
        assert!(ctx.err().is_none() || start.elapsed() >= d);
        wait_done(&ctx);
        assert!(start.elapsed() >= d, "done before the deadline");
        assert!(Instant::now() >= deadline);
        assert!(matches!(ctx.err(), Some(ContextError::DeadlineExceeded)));
        assert!(matches!(ctx.done().recv(), Err(RecvError)));
    };
    both();
    gort::run(both);
}

#[test]
fn with_deadline_reports_it_exactly_and_ends_there() {
    let at = Instant::now() + 25 * MS;
    let (ctx, _cancel) = Context::background().with_deadline(at);
    assert_eq!(ctx.deadline(), Some(at));
    wait_done(&ctx);
    assert!(Instant::now() >= at, "done before the deadline");
    assert!(matches!(ctx.err(), Some(ContextError::DeadlineExceeded)));
}

#[test]
fn deadline_in_the_past_is_already_exceeded() {
    let (ctx, _cancel) = Context::background().with_deadline(Instant::now() - 10 * MS);
    wait_done(&ctx);
    assert!(matches!(ctx.err(), Some(ContextError::DeadlineExceeded)));
    let (ctx, _cancel) = Context::background().with_timeout(Duration::ZERO);
    wait_done(&ctx);
    assert!(matches!(ctx.err(), Some(ContextError::DeadlineExceeded)));
}

#[test]
fn done_is_usable_in_select() {
    let check = || {
        let start = Instant::now();
        let (ctx, _cancel) = Context::background().with_timeout(30 * MS);
        let (_tx, rx) = gort::chan::<u32>(0);
        let which;
        gort::select! {
            recv(rx) -> _v => which = "rx",
            recv(ctx.done()) -> v => { assert!(matches!(v, Err(RecvError))); which = "done"; },
            after(EVENTUALLY) => which = "after",
        }
        assert_eq!(which, "done");
        assert!(start.elapsed() >= 30 * MS);
        assert!(matches!(ctx.err(), Some(ContextError::DeadlineExceeded)));
    };
    check();
    gort::run(check);
}

#[test]
fn workers_stop_on_cancel() {
    // The usual pattern: workers select over their work and ctx.done().
    gort::run(|| {
        let (ctx, cancel) = Context::background().with_cancel();
        let (tx, rx) = gort::chan::<u64>(0);
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let (ctx, rx) = (ctx.clone(), rx.clone());
                gort::go(move || {
                    let mut sum = 0;
                    loop {
                        gort::select! {
                            recv(rx) -> v => sum += v.unwrap(),
                            recv(ctx.done()) -> _v => break,
                            after(EVENTUALLY) => panic!("cancel never reached the worker"),
                        }
                    }
                    sum
                })
            })
            .collect();
        for i in 0..1000 {
            tx.send(i).unwrap();
        }
        cancel.cancel();
        let total: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
        assert_eq!(total, (0..1000).sum::<u64>());
    });
}

#[test]
fn child_deadline_is_the_earlier_of_parent_and_own() {
    let now = Instant::now();
    let early = now + Duration::from_secs(100);
    let late = now + Duration::from_secs(200);
    let (parent, _p) = Context::background().with_deadline(early);
    let (c, _c) = parent.with_deadline(late);
    assert_eq!(
        c.deadline(),
        Some(early),
        "own deadline later than the parent's"
    );
    let (c, _c) = parent.with_timeout(Duration::from_secs(1000));
    assert_eq!(c.deadline(), Some(early));
    let (c, _c) = parent.with_cancel();
    assert_eq!(
        c.deadline(),
        Some(early),
        "with_cancel inherits the deadline"
    );
    let v = parent.with_value("k", 0u8);
    assert_eq!(
        v.deadline(),
        Some(early),
        "with_value inherits the deadline"
    );

    let (parent, _p) = Context::background().with_deadline(late);
    let (c, _c) = parent.with_deadline(early);
    assert_eq!(
        c.deadline(),
        Some(early),
        "own deadline earlier than the parent's"
    );
    assert_eq!(
        parent.deadline(),
        Some(late),
        "a child changed its parent's deadline"
    );
}

#[test]
fn parent_deadline_ends_the_child_with_deadline_exceeded() {
    let start = Instant::now();
    let (parent, _p) = Context::background().with_timeout(30 * MS);
    let (child, _c) = parent.with_timeout(Duration::from_secs(3600));
    let (grandchild, _g) = child.with_cancel();
    wait_done(&grandchild);
    assert!(start.elapsed() >= 30 * MS);
    for c in [&parent, &child, &grandchild] {
        assert!(matches!(c.err(), Some(ContextError::DeadlineExceeded)));
    }
}

#[test]
fn own_earlier_deadline_ends_the_child_only() {
    let (parent, _p) = Context::background().with_timeout(Duration::from_secs(3600));
    let start = Instant::now();
    let (child, _c) = parent.with_timeout(20 * MS);
    wait_done(&child);
    assert!(start.elapsed() >= 20 * MS);
    assert!(matches!(child.err(), Some(ContextError::DeadlineExceeded)));
    assert!(is_live(&parent), "a child's deadline ended its parent");
}

#[test]
fn first_reason_wins() {
    // Cancelled before the deadline: stays Canceled after it.
    let (ctx, cancel) = Context::background().with_timeout(20 * MS);
    cancel.cancel();
    assert!(is_canceled(&ctx));
    std::thread::sleep(40 * MS);
    assert!(matches!(ctx.err(), Some(ContextError::Canceled)));
    // Deadline first: cancel afterwards changes nothing.
    let (ctx, cancel) = Context::background().with_timeout(10 * MS);
    wait_done(&ctx);
    cancel.cancel();
    assert!(matches!(ctx.err(), Some(ContextError::DeadlineExceeded)));
}

#[test]
fn cancel_before_deadline_is_canceled_and_early() {
    // A CancelFn of a timeout context cancels it right away.
    let (ctx, cancel) = Context::background().with_timeout(Duration::from_secs(3600));
    let (child, _c) = ctx.with_cancel();
    cancel.cancel();
    assert!(is_canceled(&ctx) && is_canceled(&child));
}

#[test]
fn children_created_while_the_parent_is_cancelled_all_end_cancelled() {
    // Children (and grandchildren) made concurrently with the parent's cancel
    // either register in time and are cancelled with it, or see it already
    // cancelled: none is left live.
    gort::run(|| {
        let (parent, cancel) = Context::background().with_cancel();
        let makers: Vec<_> = (0..8usize)
            .map(|k| {
                let parent = parent.clone();
                gort::go(move || {
                    let mut made = Vec::new();
                    for i in 0..2000usize {
                        let (c, f) = if (i + k) % 3 == 0 {
                            parent.with_timeout(Duration::from_secs(3600))
                        } else {
                            parent.with_cancel()
                        };
                        let (g, gf) = c.with_value("i", i).with_cancel();
                        made.push((c, f, g, gf));
                        if i % 100 == 0 {
                            gort::yield_now();
                        }
                    }
                    made
                })
            })
            .collect();
        gort::sleep(MS);
        cancel.cancel();
        for m in makers {
            for (i, (c, _f, g, _gf)) in m.join().unwrap().iter().enumerate() {
                assert!(is_canceled(c), "child {i} missed its parent's cancel");
                assert!(
                    is_canceled(g),
                    "grandchild {i} missed its ancestor's cancel"
                );
            }
        }
    });
}

#[test]
fn concurrent_cancels_and_deadline_settle_on_one_error() {
    // Several goroutines cancel while the deadline fires: the context ends
    // once, with one error that never changes, and every waiter wakes.
    gort::run(|| {
        for round in 0..200u64 {
            let (ctx, cancel) =
                Context::background().with_timeout(Duration::from_micros(10 * (round % 50)));
            let (child, _cf) = ctx.with_cancel();
            let cancel = Arc::new(cancel);
            let hs: Vec<_> = (0..3)
                .map(|_| {
                    let cancel = cancel.clone();
                    gort::go(move || cancel.cancel())
                })
                .collect();
            let waiter = {
                let child = child.clone();
                gort::go(move || child.done().recv_timeout(EVENTUALLY))
            };
            wait_done(&ctx);
            let e = ctx.err().expect("done without an error");
            for h in hs {
                h.join().unwrap();
            }
            assert!(matches!(
                waiter.join().unwrap(),
                Err(RecvTimeoutError::Closed)
            ));
            assert_eq!(ctx.err(), Some(e), "round {round}: the error changed");
            assert_eq!(child.err(), Some(e), "round {round}: child's error differs");
            let (late, _lf) = ctx.with_cancel();
            assert_eq!(
                late.err(),
                Some(e),
                "round {round}: a late child got another error"
            );
        }
    });
}

// --------------------------------------------------------------------- values

#[test]
fn values_are_found_through_ancestors() {
    let bg = Context::background();
    let a = bg.with_value("user", String::from("ann"));
    let (b, _cb) = a.with_cancel();
    let c = b.with_value("id", 42u64);
    let (d, _cd) = c.with_timeout(Duration::from_secs(3600));

    assert_eq!(d.value::<String>("user").map(String::as_str), Some("ann"));
    assert_eq!(d.value::<u64>("id"), Some(&42));
    assert_eq!(b.value::<String>("user").map(String::as_str), Some("ann"));
    // Not visible upwards.
    assert!(a.value::<u64>("id").is_none());
    assert!(bg.value::<String>("user").is_none());
    // Wrong type, missing key.
    assert!(d.value::<u32>("id").is_none());
    assert!(d.value::<&str>("user").is_none());
    assert!(d.value::<u64>("missing").is_none());
    // Keys compare by content, not address.
    let key = String::from("us") + "er";
    assert_eq!(d.value::<String>(&key).map(String::as_str), Some("ann"));

    // Shadowing: the nearest wins; the ancestor keeps its own.
    let e = d.with_value("id", 7u64);
    assert_eq!(e.value::<u64>("id"), Some(&7));
    assert_eq!(d.value::<u64>("id"), Some(&42));

    // Values of any Send + Sync type, shared with goroutines.
    let shared = Arc::new(AtomicUsize::new(3));
    let f = e.with_value("counter", shared.clone());
    let h = gort::go(move || {
        f.value::<Arc<AtomicUsize>>("counter")
            .unwrap()
            .fetch_add(1, Ordering::SeqCst)
    });
    assert_eq!(h.join().unwrap(), 3);
    assert_eq!(shared.load(Ordering::SeqCst), 4);
}

// ----------------------------------------------------------- traits, errors

#[test]
fn context_is_clone_send_sync_static() {
    fn assert_all<T: Clone + Send + Sync + 'static>() {}
    assert_all::<Context>();
    // Go: "A CancelFunc may be called by multiple goroutines simultaneously."
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<CancelFn>();
}

#[test]
fn context_error_is_a_std_error() {
    fn is_error<E: std::error::Error + Send + Sync + 'static>(e: E) -> String {
        assert!(!format!("{e:?}").is_empty());
        e.to_string()
    }
    let c = is_error(ContextError::Canceled);
    let d = is_error(ContextError::DeadlineExceeded);
    assert_ne!(c, d);
    assert!(c.contains("cancel"), "{c:?}");
    assert!(d.contains("deadline"), "{d:?}");
}

// ------------------------------------------------------------------- no leaks

/// A value whose drop is counted.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(5), "{what}");
        std::thread::sleep(MS);
    }
}

#[test]
fn dropped_children_are_detached_from_a_live_parent() {
    // Each child holds a counted value; if the long-lived parent kept its
    // children (cancelled or merely dropped) the values would never be freed.
    let (parent, cancel_parent) = Context::background().with_cancel();
    let freed = Arc::new(AtomicUsize::new(0));
    const N: usize = 10_000;
    for i in 0..N {
        let v = parent.with_value("k", Counted(freed.clone()));
        let (c, cancel) = v.with_cancel();
        if i.is_multiple_of(2) {
            // Cancelled, with a timer-backed grandchild cancelled through it.
            let (t, _ct) = c.with_timeout(Duration::from_secs(3600));
            cancel.cancel();
            assert!(is_canceled(&t));
        }
        // Odd i: dropped without cancelling (Go leaks here; gort must not).
        drop((c, cancel, v));
    }
    wait_until(
        "contexts derived from a live parent were kept after being dropped",
        || freed.load(Ordering::SeqCst) == N,
    );
    assert!(is_live(&parent));
    cancel_parent.cancel();
    assert!(is_canceled(&parent));
    assert_eq!(freed.load(Ordering::SeqCst), N);
}

/// In a child process (no other test's goroutines): polls until the count is
/// back to `before`, or 5 s.
fn settle_goroutines(before: usize) -> usize {
    let start = Instant::now();
    loop {
        let n = gort::num_goroutines();
        if n == before || start.elapsed() > Duration::from_secs(5) {
            return n;
        }
        std::thread::sleep(MS);
    }
}

fn finished_contexts_leave_no_goroutines() {
    let before = gort::num_goroutines();
    let bg = Context::background();

    // Cancelled.
    let (c1, f1) = bg.with_cancel();
    let (c2, _f2) = c1.with_timeout(Duration::from_secs(3600));
    let (c3, _f3) = c2.with_deadline(Instant::now() + Duration::from_secs(3600));
    let c4 = c3.with_value("k", 1u32);
    f1.cancel();
    assert!(is_canceled(&c4));
    assert_eq!(settle_goroutines(before), before, "after cancel");

    // Deadline passed.
    let (d1, _g1) = bg.with_timeout(20 * MS);
    let (d2, _g2) = d1.with_cancel();
    let (d3, _g3) = d2.with_timeout(Duration::from_secs(3600));
    wait_done(&d3);
    assert!(matches!(d3.err(), Some(ContextError::DeadlineExceeded)));
    assert_eq!(settle_goroutines(before), before, "after the deadline");

    // Inside a goroutine, with waiters that return once done.
    let n = gort::run(move || {
        let inner_before = gort::num_goroutines();
        let (ctx, cancel) = Context::background().with_timeout(Duration::from_secs(3600));
        let waiters: Vec<_> = (0..10)
            .map(|_| {
                let ctx = ctx.clone();
                gort::go(move || {
                    matches!(
                        ctx.done().recv_timeout(EVENTUALLY),
                        Err(RecvTimeoutError::Closed)
                    )
                })
            })
            .collect();
        cancel.cancel();
        assert!(waiters.into_iter().all(|w| w.join().unwrap()));
        let start = Instant::now();
        while gort::num_goroutines() != inner_before && start.elapsed() < Duration::from_secs(5) {
            gort::sleep(MS);
        }
        gort::num_goroutines() == inner_before
    });
    assert!(n, "goroutines left after cancelling inside a goroutine");
    assert_eq!(settle_goroutines(before), before, "after run");
    drop((c1, c2, c3, c4, d1, d2, d3));
    println!("goroutines_ok=1");
}

#[test]
fn finished_contexts_leave_num_goroutines_unchanged() {
    if child_mode().as_deref() == Some("ctx-goroutines") {
        return finished_contexts_leave_no_goroutines();
    }
    let out = run_child_ok(
        "finished_contexts_leave_num_goroutines_unchanged",
        "ctx-goroutines",
        &[],
        Duration::from_secs(60),
        "cancelled / expired contexts left goroutines behind",
    );
    assert_eq!(common::stdout_value(&out, "goroutines_ok"), Some(1));
}

fn ten_thousand_children() {
    let before = gort::num_goroutines();
    let (parent, cancel_parent) = Context::background().with_timeout(Duration::from_secs(3600));
    for i in 0..10_000u32 {
        let (c, cancel) = parent.with_cancel();
        let (t, _ct) = c.with_timeout(Duration::from_secs(1800 + u64::from(i % 7)));
        let v = t.with_value("i", i);
        cancel.cancel();
        assert!(is_canceled(&v));
        drop((c, t, v, cancel));
    }
    assert_eq!(settle_goroutines(before), before, "after 10 000 children");
    assert!(is_live(&parent));
    // Dropped without cancelling, too.
    for _ in 0..10_000u32 {
        let (c, cancel) = parent.with_cancel();
        drop((c, cancel));
    }
    assert_eq!(
        settle_goroutines(before),
        before,
        "after 10 000 dropped children"
    );
    cancel_parent.cancel();
    assert!(is_canceled(&parent));
    assert_eq!(
        settle_goroutines(before),
        before,
        "after cancelling the parent"
    );
    println!("children_ok=1");
}

#[test]
fn ten_thousand_cancelled_children_leave_nothing() {
    if child_mode().as_deref() == Some("ctx-children") {
        return ten_thousand_children();
    }
    let out = run_child_ok(
        "ten_thousand_cancelled_children_leave_nothing",
        "ctx-children",
        &[],
        Duration::from_secs(60),
        "10 000 cancelled children",
    );
    assert_eq!(common::stdout_value(&out, "children_ok"), Some(1));
}

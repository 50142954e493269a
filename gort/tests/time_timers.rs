//! `gort::time`: `after`, `tick`, `Timer`, `Ticker` (API.md, "Time"), with
//! Go's semantics: a value sent is the instant the timer fired (never before
//! creation + d), ticks never go back in time, a ticker's channel holds at most
//! one tick (a slow receiver loses ticks), `stop`/`reset` report whether the
//! timer was pending, and after a `stop` that returned true nothing arrives.
//!
//! Timing: only lower bounds ("not before d") and "eventually, within 10 s".
//! Checks that something did *not* arrive wait well past when it would have.

use std::time::{Duration, Instant};

use gort::RecvTimeoutError;
use gort::time::{Ticker, Timer, after, tick};

const EVENTUALLY: Duration = Duration::from_secs(10);
const MS: Duration = Duration::from_millis(1);

/// Runs `f` on this plain thread, then inside a goroutine.
fn both(f: fn()) {
    f();
    gort::run(f);
}

// --------------------------------------------------------------------- after

#[test]
fn after_delivers_an_instant_not_before_start_plus_d() {
    both(|| {
        for ms in [0u64, 1, 5, 20] {
            let d = Duration::from_millis(ms);
            let start = Instant::now();
            let rx = after(d);
            let fired = rx.recv_timeout(EVENTUALLY).expect("after never fired");
            let now = Instant::now();
            assert!(fired >= start + d, "after({ms} ms) fired early");
            assert!(fired <= now, "after's instant is in the future");
            assert!(now - start >= d);
        }
    });
}

#[test]
fn after_in_select_and_many_concurrent() {
    gort::run(|| {
        let hs: Vec<_> = (0..1000u64)
            .map(|i| {
                gort::go(move || {
                    let d = Duration::from_millis(1 + (i * 7919) % 40);
                    let start = Instant::now();
                    let rx = after(d);
                    let mut fired = None;
                    gort::select! {
                        recv(rx) -> v => fired = Some(v.unwrap()),
                        after(EVENTUALLY) => {},
                    }
                    let fired = fired.expect("after never fired");
                    fired >= start + d && fired <= Instant::now()
                })
            })
            .collect();
        let bad = hs
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|ok| !ok)
            .count();
        assert_eq!(bad, 0, "timers fired early or with a future instant");
    });
}

#[test]
fn time_sleep_is_never_early() {
    both(|| {
        for ms in [1u64, 5, 15] {
            let d = Duration::from_millis(ms);
            let t = Instant::now();
            gort::time::sleep(d);
            assert!(t.elapsed() >= d);
        }
    });
}

// ---------------------------------------------------------------------- tick

#[test]
fn tick_delivers_increasing_instants() {
    both(|| {
        let d = 5 * MS;
        let start = Instant::now();
        let rx = tick(d);
        let mut prev = start;
        for i in 1..=6u32 {
            let t = rx.recv_timeout(EVENTUALLY).expect("tick never came");
            let now = Instant::now();
            assert!(t > prev, "tick {i} went back in time");
            // The i-th tick received is at or after the i-th scheduled one.
            assert!(t >= start + d * i, "tick {i} early");
            assert!(t <= now, "tick {i} is in the future");
            prev = t;
        }
    });
}

// --------------------------------------------------------------------- Timer

#[test]
fn timer_fires_once() {
    both(|| {
        let d = 10 * MS;
        let start = Instant::now();
        let t = Timer::new(d);
        let fired = t
            .channel()
            .recv_timeout(EVENTUALLY)
            .expect("timer never fired");
        assert!(fired >= start + d, "timer fired early");
        assert!(fired <= Instant::now());
        // Never a second value (and, as in Go, the channel is not closed).
        assert!(matches!(
            t.channel().recv_timeout(100 * MS),
            Err(RecvTimeoutError::Timeout)
        ));
        assert!(!t.stop(), "stop after the timer fired and was received");
    });
}

#[test]
fn timer_stop_prevents_the_value() {
    both(|| {
        let d = 200 * MS;
        let t = Timer::new(d);
        assert!(t.stop(), "stop of a pending timer must return true");
        assert!(!t.stop(), "a second stop finds nothing pending");
        let r = t.channel().recv_timeout(d * 2);
        assert!(
            matches!(r, Err(RecvTimeoutError::Timeout)),
            "a stopped timer delivered {r:?}"
        );
    });
}

#[test]
fn timer_stop_after_fire_and_receive_returns_false() {
    both(|| {
        let t = Timer::new(MS);
        t.channel()
            .recv_timeout(EVENTUALLY)
            .expect("timer never fired");
        assert!(!t.stop());
        assert!(!t.stop());
    });
}

#[test]
fn timer_reset_rearms() {
    both(|| {
        // Pending, long: reset shortens it and reports it was pending.
        let t = Timer::new(Duration::from_secs(3600));
        let t0 = Instant::now();
        assert!(t.reset(20 * MS), "reset of a pending timer returns true");
        let fired = t
            .channel()
            .recv_timeout(EVENTUALLY)
            .expect("reset timer never fired");
        assert!(fired >= t0 + 20 * MS, "reset timer fired early");

        // Fired and received: reset returns false and arms it again.
        let t1 = Instant::now();
        assert!(!t.reset(10 * MS), "reset of a fired timer returns false");
        let fired = t
            .channel()
            .recv_timeout(EVENTUALLY)
            .expect("re-armed timer never fired");
        assert!(fired >= t1 + 10 * MS);

        // Stopped: reset returns false and arms it again.
        let t = Timer::new(Duration::from_secs(3600));
        assert!(t.stop());
        let t2 = Instant::now();
        assert!(!t.reset(10 * MS), "reset of a stopped timer returns false");
        let fired = t
            .channel()
            .recv_timeout(EVENTUALLY)
            .expect("timer reset after stop never fired");
        assert!(fired >= t2 + 10 * MS);
        assert!(matches!(
            t.channel().recv_timeout(50 * MS),
            Err(RecvTimeoutError::Timeout)
        ));
    });
}

#[test]
fn timer_reset_to_a_longer_duration_postpones_it() {
    both(|| {
        let t = Timer::new(100 * MS);
        let t0 = Instant::now();
        if t.reset(300 * MS) {
            // It was still pending: nothing may arrive before the new deadline.
            let fired = t.channel().recv_timeout(EVENTUALLY).expect("never fired");
            assert!(fired >= t0 + 300 * MS, "fired at the old deadline");
        }
        // (If the machine stalled for 100 ms before the reset, the timer had
        // already fired; `timer_reset_rearms` covers the pending case.)
    });
}

#[test]
fn timer_channel_in_select() {
    both(|| {
        let start = Instant::now();
        let t = Timer::new(15 * MS);
        let (_tx, rx) = gort::chan::<u32>(0);
        let fired: Instant;
        gort::select! {
            recv(rx) -> _v => panic!("nothing was sent"),
            recv(t.channel()) -> v => fired = v.unwrap(),
        }
        assert!(fired >= start + 15 * MS);
    });
}

#[test]
fn many_timers_some_stopped() {
    gort::run(|| {
        let hs: Vec<_> = (0..1000u64)
            .map(|i| {
                gort::go(move || -> Result<(), String> {
                    let d = Duration::from_millis(1 + i % 40);
                    let start = Instant::now();
                    let t = Timer::new(d);
                    if i.is_multiple_of(3) && t.stop() {
                        return match t.channel().recv_timeout(d + 60 * MS) {
                            Err(RecvTimeoutError::Timeout) => Ok(()),
                            other => Err(format!("timer {i}: stopped but got {other:?}")),
                        };
                    }
                    let fired = t
                        .channel()
                        .recv_timeout(EVENTUALLY)
                        .map_err(|e| format!("timer {i}: {e:?}"))?;
                    if fired < start + d {
                        return Err(format!("timer {i} fired early"));
                    }
                    Ok(())
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap().unwrap();
        }
    });
}

/// Busy-waits (keeps the processor) until `d` has passed since `start`.
fn spin_until(start: Instant, d: Duration) {
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

#[test]
fn timer_stop_racing_the_firing() {
    // `stop` at about the moment the timer fires. Either outcome must be
    // consistent: true means no value ever arrives; false means the value was
    // already delivered (Go before 1.23; from 1.23 on, with nothing received,
    // stop always returns true).
    gort::run(|| {
        let hs: Vec<_> = (0..400u64)
            .map(|i| {
                gort::go(move || -> Result<(), String> {
                    let d = Duration::from_micros(50 * (i % 20));
                    let start = Instant::now();
                    let t = Timer::new(d);
                    spin_until(start, Duration::from_micros(50 * ((i * 7) % 20)));
                    if t.stop() {
                        match t.channel().recv_timeout(20 * MS) {
                            Err(RecvTimeoutError::Timeout) => Ok(()),
                            other => Err(format!("timer {i}: stop returned true, then {other:?}")),
                        }
                    } else {
                        match t.channel().try_recv() {
                            Ok(v) if v >= start + d => Ok(()),
                            other => Err(format!(
                                "timer {i}: stop returned false but nothing had been received: {other:?}"
                            )),
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap().unwrap();
        }
    });
}

#[test]
fn timer_reset_racing_the_firing() {
    // `reset` at about the moment the timer fires: afterwards exactly one
    // value at or after the new deadline arrives, preceded at most by one
    // stale value that fired before reset returned (only if reset said the
    // timer was no longer pending).
    gort::run(|| {
        let hs: Vec<_> = (0..300u64)
            .map(|i| {
                gort::go(move || -> Result<(), String> {
                    let d = Duration::from_micros(50 * (i % 20));
                    let d2 = 2 * MS;
                    let start = Instant::now();
                    let t = Timer::new(d);
                    spin_until(start, Duration::from_micros(50 * ((i * 7) % 20)));
                    let r0 = Instant::now();
                    let was_pending = t.reset(d2);
                    let r1 = Instant::now();
                    let mut v = t
                        .channel()
                        .recv_timeout(EVENTUALLY)
                        .map_err(|e| format!("timer {i}: nothing after reset: {e:?}"))?;
                    if v < r0 + d2 {
                        if was_pending {
                            return Err(format!("timer {i}: reset returned true, yet a stale value came"));
                        }
                        if v > r1 {
                            return Err(format!("timer {i}: a value fired after reset returned, before the new deadline"));
                        }
                        v = t
                            .channel()
                            .recv_timeout(EVENTUALLY)
                            .map_err(|e| format!("timer {i}: re-armed timer never fired: {e:?}"))?;
                        if v < r0 + d2 {
                            return Err(format!("timer {i}: two stale values"));
                        }
                    }
                    match t.channel().recv_timeout(10 * MS) {
                        Err(RecvTimeoutError::Timeout) => Ok(()),
                        other => Err(format!("timer {i}: a second value after reset: {other:?}")),
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap().unwrap();
        }
    });
}

#[test]
fn dropped_timers_and_tickers_do_not_disturb_others() {
    both(|| {
        for _ in 0..500 {
            drop(Timer::new(MS));
            drop(Ticker::new(MS));
            drop(after(MS));
            drop(tick(MS));
        }
        let start = Instant::now();
        let fired = after(5 * MS)
            .recv_timeout(EVENTUALLY)
            .expect("after never fired");
        assert!(fired >= start + 5 * MS);
    });
}

// -------------------------------------------------------------------- Ticker

#[test]
fn ticker_drops_ticks_for_a_slow_receiver() {
    both(|| {
        let period = 20 * MS;
        let start = Instant::now();
        let t = Ticker::new(period);
        // Ten ticks' worth (and a bit) without receiving.
        gort::sleep(period * 10 + period / 2);
        let drain_start = Instant::now();
        let mut got = Vec::new();
        while let Ok(v) = t.channel().try_recv() {
            got.push(v);
            assert!(got.len() <= 10, "the ticker buffered every tick");
        }
        assert!(!got.is_empty(), "a ticker that ticked holds a tick");
        assert!(got[0] >= start + period);
        // At most one tick waits in the channel; a second value can only be a
        // tick that fired while we were draining.
        let old = got.iter().filter(|&&v| v + 5 * MS < drain_start).count();
        assert!(
            old <= 1 && got.len() <= 2,
            "{} ticks were waiting (Go's ticker channel holds one): {got:?} vs drain at {drain_start:?}",
            got.len()
        );
        t.stop();
    });
}

#[test]
fn ticker_stop_stops_ticks() {
    both(|| {
        let period = 10 * MS;
        let t = Ticker::new(period);
        for _ in 0..2 {
            t.channel()
                .recv_timeout(EVENTUALLY)
                .expect("ticker never ticked");
        }
        t.stop();
        let stopped = Instant::now();
        // At most one tick from before the stop may still be waiting.
        let mut late = Vec::new();
        loop {
            match t.channel().recv_timeout(10 * period) {
                Ok(v) => late.push(v),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Closed) => panic!("stop closed the channel (Go's does not)"),
            }
            assert!(late.len() <= 1, "ticks after stop: {late:?}");
        }
        assert!(
            late.iter().all(|&v| v <= stopped),
            "a tick fired after stop returned"
        );
    });
}

#[test]
fn ticker_reset_changes_the_period() {
    both(|| {
        // From an hour to 10 ms: ticks start coming.
        let t = Ticker::new(Duration::from_secs(3600));
        let r0 = Instant::now();
        t.reset(10 * MS);
        for k in 1..=3u32 {
            let v = t
                .channel()
                .recv_timeout(EVENTUALLY)
                .expect("reset ticker never ticked");
            assert!(v >= r0 + 10 * MS * k, "tick {k} after reset came early");
        }
        // From 10 ms to 150 ms: any tick fired after the reset is at least
        // 150 ms after it (one tick from before may still be waiting).
        let r1 = Instant::now();
        t.reset(150 * MS);
        // A tick of the old period may race with the reset call itself; only
        // ticks fired after reset returned are checked.
        let r1_end = Instant::now();
        let mut after_reset = Vec::new();
        while after_reset.len() < 2 {
            let v = t
                .channel()
                .recv_timeout(EVENTUALLY)
                .expect("ticker stopped ticking");
            if v > r1_end {
                after_reset.push(v);
            }
        }
        assert!(
            after_reset[0] >= r1 + 150 * MS,
            "the old period is still in use"
        );
        assert!(
            after_reset[1] >= r1 + 300 * MS,
            "the old period is still in use"
        );
        assert!(after_reset[1] > after_reset[0]);
        t.stop();
    });
}

#[test]
fn ticker_instants_never_go_back_under_load() {
    gort::run(|| {
        let hs: Vec<_> = (0..50u64)
            .map(|i| {
                gort::go(move || {
                    let period = Duration::from_micros(500 + 100 * (i % 7));
                    let start = Instant::now();
                    let t = Ticker::new(period);
                    let mut prev = start;
                    for k in 1..=20u32 {
                        let v = t
                            .channel()
                            .recv_timeout(EVENTUALLY)
                            .expect("tick never came");
                        assert!(v > prev, "ticker {i}: tick {k} went back in time");
                        assert!(v >= start + period * k, "ticker {i}: tick {k} early");
                        prev = v;
                        if k.is_multiple_of(5) {
                            gort::sleep(period * 3);
                        }
                    }
                    t.stop();
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
}

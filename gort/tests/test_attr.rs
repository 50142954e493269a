//! `#[gort::test]`: the body runs as a goroutine; `procs = N`; results,
//! `should_panic` and `ignore` as on `#[test]`.

use std::time::Duration;

#[gort::test]
fn the_body_is_a_goroutine() {
    assert!(gort::current_id().is_some());
    let (tx, rx) = gort::chan::<u32>(0);
    gort::go(move || {
        gort::sleep(Duration::from_millis(5));
        tx.send(7).unwrap();
    });
    assert_eq!(rx.recv().unwrap(), 7);
}

#[gort::test(procs = 3)]
fn procs_is_set() {
    // Other tests of this binary may set it meanwhile; none sets 3.
    let p = gort::procs();
    assert!(p == 3 || p == 1, "procs {p}");
}

#[gort::test]
fn ok_result_passes() -> Result<(), String> {
    let v = gort::go(|| 2 + 2)
        .join()
        .map_err(|_| "panicked".to_string())?;
    assert_eq!(v, 4);
    Ok(())
}

/// An `Err` fails the test: what a `#[gort::test]` returning `Result` runs
/// reports failure (and the error need not be `Send`).
#[test]
fn an_err_result_is_a_failure() {
    let code = gort::__private::run_test(0, || -> Result<(), Box<dyn std::error::Error>> {
        let _not_send = std::rc::Rc::new(());
        Err("boom".into())
    });
    let failure = std::process::ExitCode::FAILURE;
    assert_eq!(format!("{code:?}"), format!("{failure:?}"));
    let code = gort::__private::run_test(0, || -> Result<(), String> { Ok(()) });
    let success = std::process::ExitCode::SUCCESS;
    assert_eq!(format!("{code:?}"), format!("{success:?}"));
}

#[gort::test]
#[should_panic(expected = "from a goroutine")]
fn a_panic_reaches_the_test_with_its_message() {
    gort::go(|| 1).join().unwrap();
    panic!("from a goroutine");
}

#[gort::test]
#[ignore = "ignored tests stay ignored"]
fn ignored() {
    unreachable!("an ignored test ran");
}

#[gort::test(procs = 1)]
fn one_proc() {
    let p = gort::procs();
    assert!(p == 1 || p == 3, "procs {p}");
}

use gort::ffi::Callback;
use std::time::Duration;

#[test]
fn smoke() {
    let cb = Callback::<extern "C" fn(i32, f64) -> i64>::new(|a, b| {
        assert!(gort::current_id().is_some());
        gort::sleep(Duration::from_millis(1));
        a as i64 + b as i64
    })
    .unwrap();
    let f = cb.as_fn();
    assert_eq!(f(2, 3.5), 5);
    let id = gort::run(move || {
        let me = gort::current_id();
        let cb2 = Callback::<extern "C" fn() -> u64>::new(|| gort::current_id().unwrap().as_u64())
            .unwrap();
        let g = cb2.as_fn();
        assert_eq!(Some(g()), me.map(|m| m.as_u64()));
        f(-7, -1.0)
    });
    assert_eq!(id, -8);
    let t = std::thread::spawn(move || (0..1000).map(|i| f(i, 0.0)).sum::<i64>());
    assert_eq!(t.join().unwrap(), 499500);
    let r = gort::run(move || gort::blocking(move || f(1, 1.0)));
    assert_eq!(r, 2);
    let many = Callback::<
        extern "C" fn(i8, u16, i32, f32, *const u8, bool, u64, f64, i64, i64, f64) -> f64,
    >::new(|a, b, c, d, e, f, g, h, i, j, k| {
        assert_eq!(
            (a, b, c, d, f, g, h, i, j, k),
            (-3, 65535, -100000, -1.5, true, u64::MAX, 2.25, -9, -10, 3.0)
        );
        assert_eq!(e as usize, 0x1234);
        -0.5
    })
    .unwrap();
    assert_eq!(
        (many.as_fn())(
            -3,
            65535,
            -100000,
            -1.5,
            0x1234 as *const u8,
            true,
            u64::MAX,
            2.25,
            -9,
            -10,
            3.0
        ),
        -0.5
    );
    println!("in_use {}", gort::ffi::in_use());
}

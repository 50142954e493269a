//! A binary spawn tree of depth 14: every goroutine spawns two and joins them.

fn tree(depth: u32) -> u64 {
    if depth == 0 {
        return 1;
    }
    let l = gort::go(move || tree(depth - 1));
    let r = gort::go(move || tree(depth - 1));
    l.join().unwrap() + r.join().unwrap()
}

#[test]
fn spawn_tree_depth_14() {
    assert_eq!(gort::run(|| tree(14)), 1 << 14);
}

#[test]
fn spawn_tree_from_plain_thread() {
    // The root join blocks a plain thread; the rest parks goroutines.
    assert_eq!(tree(10), 1 << 10);
}

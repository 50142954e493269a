//! Compiles the C side of the tests (`c/callbacks.c`, `c/canary.S`) into a
//! static library linked into `gort_ffi_tests`, on x86-64 Linux only.

fn main() {
    println!("cargo:rerun-if-changed=c/callbacks.c");
    println!("cargo:rerun-if-changed=c/canary.S");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if arch != "x86_64" || os != "linux" {
        return;
    }
    cc::Build::new()
        .file("c/callbacks.c")
        .file("c/canary.S")
        // The C functions must really call the callbacks (a `call`, with the C
        // compiler's own argument set-up), not tail-jump to them.
        .flag_if_supported("-fno-optimize-sibling-calls")
        .flag_if_supported("-pthread")
        .warnings(true)
        .extra_warnings(true)
        .compile("gort_ffi_tests_c");
    println!("cargo:rustc-link-lib=pthread");
}

//! Compiles the C side of the tests into a static library linked into
//! `gort_ffi_tests`: `c/callbacks.c` and `c/canary.S` on x86-64 Linux,
//! `c/win64.c` on x86-64 Windows (mingw: the `cc` crate picks
//! `x86_64-w64-mingw32-gcc`).

fn main() {
    println!("cargo:rerun-if-changed=c/callbacks.c");
    println!("cargo:rerun-if-changed=c/canary.S");
    println!("cargo:rerun-if-changed=c/win64.c");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if arch != "x86_64" {
        return;
    }
    let mut build = cc::Build::new();
    match os.as_str() {
        "linux" => build
            .file("c/callbacks.c")
            .file("c/canary.S")
            .flag_if_supported("-pthread"),
        "windows" => build.file("c/win64.c"),
        _ => return,
    };
    build
        // The C functions must really call the callbacks (a `call`, with the C
        // compiler's own argument set-up), not tail-jump to them.
        .flag_if_supported("-fno-optimize-sibling-calls")
        .warnings(true)
        .extra_warnings(true)
        .compile("gort_ffi_tests_c");
    if os == "linux" {
        println!("cargo:rustc-link-lib=pthread");
    }
}

//! The Windows side: `c/win64.c` declared, a Win64 callee-saved canary
//! caller in asm, and threads made with `CreateThread`.

use core::arch::naked_asm;
use std::ffi::c_void;

/// The mixed 8-argument signature of `w_call_mixed8`: positions 0–3 in
/// RCX, XMM1, R8, XMM3; 4–7 on the stack.
pub type WMixed8Fn = extern "C" fn(i32, f64, i8, f32, u64, f64, *const u8, bool) -> f64;
/// The mixed 16-argument signature of `w_call_mixed16`.
pub type WMixed16Fn = extern "C" fn(
    f32,
    i8,
    f64,
    u16,
    f32,
    i32,
    f64,
    i64,
    f32,
    u8,
    f64,
    *const u8,
    f32,
    u64,
    f64,
    f32,
) -> f64;
/// A plain C function pointer taking and returning an `int32_t`.
pub type I32Fn = extern "C" fn(i32) -> i32;

/// Six and two `i64`s: the frame path and the register path.
pub type I64x6Fn = extern "C" fn(i64, i64, i64, i64, i64, i64) -> i64;
/// See [`I64x6Fn`].
pub type I64x2Fn = extern "C" fn(i64, i64) -> i64;

unsafe extern "C" {
    // ---- argument passing ----
    /// `f(a, …, i)`.
    pub fn w_call_mixed8(
        f: WMixed8Fn,
        a: i32,
        b: f64,
        c: i8,
        d: f32,
        e: u64,
        g: f64,
        h: *const u8,
        i: bool,
    ) -> f64;
    /// `f` with values written in C (see the C source).
    pub fn w_call_mixed8_c_values(f: WMixed8Fn) -> f64;
    /// `f(a, b, c)`.
    pub fn w_call_f64_i32_f32(
        f: extern "C" fn(f64, i32, f32) -> i64,
        a: f64,
        b: i32,
        c: f32,
    ) -> i64;
    /// `f(a, b, c)`.
    pub fn w_call_f64x3(f: extern "C" fn(f64, f64, f64) -> f64, a: f64, b: f64, c: f64) -> f64;
    /// `f(a, b)`.
    pub fn w_call_f32_u8(f: extern "C" fn(f32, u8) -> f32, a: f32, b: u8) -> f32;
    /// `f(a, b, c, d)`.
    pub fn w_call_f64x4(
        f: extern "C" fn(f64, f64, f64, f64) -> f64,
        a: f64,
        b: f64,
        c: f64,
        d: f64,
    ) -> f64;
    /// `f(a, …, q)`.
    pub fn w_call_mixed16(
        f: WMixed16Fn,
        a: f32,
        b: i8,
        c: f64,
        d: u16,
        e: f32,
        g: i32,
        h: f64,
        i: i64,
        j: f32,
        k: u8,
        l: f64,
        m: *const u8,
        n: f32,
        o: u64,
        p: f64,
        q: f32,
    ) -> f64;

    // ---- every type: `w_id1_*(f, x)` = `f(x)`, `w_id5_*(f, x)` = `f(1.5, -2, 3.25, 4, x)` ----
    pub fn w_id1_i8(f: extern "C" fn(i8) -> i8, x: i8) -> i8;
    pub fn w_id1_i16(f: extern "C" fn(i16) -> i16, x: i16) -> i16;
    pub fn w_id1_i32(f: extern "C" fn(i32) -> i32, x: i32) -> i32;
    pub fn w_id1_i64(f: extern "C" fn(i64) -> i64, x: i64) -> i64;
    pub fn w_id1_u8(f: extern "C" fn(u8) -> u8, x: u8) -> u8;
    pub fn w_id1_u16(f: extern "C" fn(u16) -> u16, x: u16) -> u16;
    pub fn w_id1_u32(f: extern "C" fn(u32) -> u32, x: u32) -> u32;
    pub fn w_id1_u64(f: extern "C" fn(u64) -> u64, x: u64) -> u64;
    pub fn w_id1_bool(f: extern "C" fn(bool) -> bool, x: bool) -> bool;
    pub fn w_id1_f32(f: extern "C" fn(f32) -> f32, x: f32) -> f32;
    pub fn w_id1_f64(f: extern "C" fn(f64) -> f64, x: f64) -> f64;
    pub fn w_id1_ptr(f: extern "C" fn(*mut c_void) -> *mut c_void, x: *mut c_void) -> *mut c_void;
    pub fn w_id5_i8(f: extern "C" fn(f64, i32, f32, i64, i8) -> i8, x: i8) -> i8;
    pub fn w_id5_i16(f: extern "C" fn(f64, i32, f32, i64, i16) -> i16, x: i16) -> i16;
    pub fn w_id5_i32(f: extern "C" fn(f64, i32, f32, i64, i32) -> i32, x: i32) -> i32;
    pub fn w_id5_i64(f: extern "C" fn(f64, i32, f32, i64, i64) -> i64, x: i64) -> i64;
    pub fn w_id5_u8(f: extern "C" fn(f64, i32, f32, i64, u8) -> u8, x: u8) -> u8;
    pub fn w_id5_u16(f: extern "C" fn(f64, i32, f32, i64, u16) -> u16, x: u16) -> u16;
    pub fn w_id5_u32(f: extern "C" fn(f64, i32, f32, i64, u32) -> u32, x: u32) -> u32;
    pub fn w_id5_u64(f: extern "C" fn(f64, i32, f32, i64, u64) -> u64, x: u64) -> u64;
    pub fn w_id5_bool(f: extern "C" fn(f64, i32, f32, i64, bool) -> bool, x: bool) -> bool;
    pub fn w_id5_f32(f: extern "C" fn(f64, i32, f32, i64, f32) -> f32, x: f32) -> f32;
    pub fn w_id5_f64(f: extern "C" fn(f64, i32, f32, i64, f64) -> f64, x: f64) -> f64;
    pub fn w_id5_ptr(
        f: extern "C" fn(f64, i32, f32, i64, *mut c_void) -> *mut c_void,
        x: *mut c_void,
    ) -> *mut c_void;
    /// `(int64_t)f()`: the C compiler sign-extends the 8-bit result.
    pub fn w_ret_i8_widened(f: extern "C" fn() -> i8) -> i64;
    /// `(uint64_t)f()`.
    pub fn w_ret_u16_widened(f: extern "C" fn() -> u16) -> u64;
    /// `f() ? 1 : 0`.
    pub fn w_ret_bool_as_int(f: extern "C" fn() -> bool) -> i32;

    // ---- the caller's frame ----
    /// `f6(1, …, 6) + f2(7, 8)` with guards in the C frame; -1000000 if a
    /// guard changed.
    pub fn w_guarded_calls(f6: I64x6Fn, f2: I64x2Fn) -> i64;

    // ---- threads ----
    /// Runs `f(arg)` on a new thread made with `CreateThread` and waits for
    /// it. Returns 0 or a Win32 error code.
    pub fn w_run_on_thread(f: extern "C" fn(*mut c_void), arg: *mut c_void) -> u32;
    /// The process's thread count from a Toolhelp snapshot; -1 on failure.
    fn w_thread_count() -> i32;
    /// The thread id recorded by a C runtime constructor (on the main
    /// thread, before `main`); 0 if it did not run.
    fn w_main_thread_id() -> u32;

    // ---- the `c/callbacks.c` functions, same names and signatures (see `linux.rs`) ----
    /// `f(x)`.
    pub fn call_id_i32(f: extern "C" fn(i32) -> i32, x: i32) -> i32;
    /// `f(x)`.
    pub fn call_id_u64(f: extern "C" fn(u64) -> u64, x: u64) -> u64;
    /// `nthreads` threads (`CreateThread`) each calling `f(thread, i)` for
    /// `i in 0..ncalls`; the sum of every result goes to `*sum_out`. Returns
    /// 0 or a Win32 error code.
    pub fn call_n_times_in_pthreads(
        nthreads: i32,
        ncalls: i32,
        f: extern "C" fn(i32, i32) -> i32,
        sum_out: *mut i64,
    ) -> i32;
    /// `total` short-lived threads (`CreateThread`), `at_once` (≤ 64) at a
    /// time, each calling `f(i)` once. Returns 0 or a Win32 error code.
    pub fn spawn_short_threads(total: i32, at_once: i32, f: extern "C" fn(i32)) -> i32;
    /// `cb(depth) + 1` (or -1000000 if a C local did not survive the call).
    pub fn nest(depth: i32, cb: extern "C" fn(i32) -> i32) -> i32;
    /// `f(a, b)`: a comparator called through C (for nesting).
    pub fn call_cmp(
        f: extern "C" fn(*const c_void, *const c_void) -> i32,
        a: *const c_void,
        b: *const c_void,
    ) -> i32;
    /// `f(arg)` with kernel mutex `slot` (of 64) held by the calling thread
    /// around the call; -1 if `f` returned on another thread, -2 if the
    /// mutex could then not be released, -3 if it could not be taken.
    pub fn locked_call(slot: i32, f: extern "C" fn(i64) -> i64, arg: i64) -> i64;

    /// msvcrt's `qsort`, declared as `libc::qsort` is on Linux.
    pub fn qsort(
        base: *mut c_void,
        num: usize,
        size: usize,
        compar: Option<unsafe extern "C" fn(*const c_void, *const c_void) -> i32>,
    );
}

/// The process's thread count (its threads in a Toolhelp snapshot).
pub fn thread_count() -> usize {
    // SAFETY: no preconditions.
    let n = unsafe { w_thread_count() };
    usize::try_from(n).expect("CreateToolhelp32Snapshot / Thread32Next failed")
}

/// Whether the calling thread is the process's main thread (the one the C
/// runtime started up on).
pub fn is_main_thread() -> bool {
    // SAFETY: no preconditions.
    let main = unsafe { w_main_thread_id() };
    assert_ne!(
        main, 0,
        "the C constructor recording the main thread did not run"
    );
    u64::from(main) == crate::os_tid()
}

/// The canaries `win64_canary_call` puts in XMM6–XMM15: both 64-bit halves
/// distinct, and distinct from every other register's.
static XMM_CANARIES: [u128; 10] = [
    0x0601_0601_0601_0601_1606_1606_1606_1606,
    0x0701_0701_0701_0701_1707_1707_1707_1707,
    0x0801_0801_0801_0801_1808_1808_1808_1808,
    0x0901_0901_0901_0901_1909_1909_1909_1909,
    0x0A01_0A01_0A01_0A01_1A0A_1A0A_1A0A_1A0A,
    0x0B01_0B01_0B01_0B01_1B0B_1B0B_1B0B_1B0B,
    0x0C01_0C01_0C01_0C01_1C0C_1C0C_1C0C_1C0C,
    0x0D01_0D01_0D01_0D01_1D0D_1D0D_1D0D_1D0D,
    0x0E01_0E01_0E01_0E01_1E0E_1E0E_1E0E_1E0E,
    0x0F01_0F01_0F01_0F01_1F0F_1F0F_1F0F_1F0F,
];

/// MXCSR with round-toward-zero (RC=11) and every exception masked (the
/// Windows default is 0x1F80, round-to-nearest).
pub const MXCSR_CANARY: u32 = 0x7F80;
/// x87 control word with 53-bit precision and round-up (RC=10; the Windows
/// default is 0x027F).
pub const X87_CANARY: u16 = 0x0A7F;

/// Names of the bits of a [`win64_canary_call`] mask.
pub fn win64_mask_names(mask: u64) -> Vec<&'static str> {
    const NAMES: [&str; 23] = [
        "RBX",
        "RBP",
        "RDI",
        "RSI",
        "R12",
        "R13",
        "R14",
        "R15",
        "XMM6",
        "XMM7",
        "XMM8",
        "XMM9",
        "XMM10",
        "XMM11",
        "XMM12",
        "XMM13",
        "XMM14",
        "XMM15",
        "MXCSR",
        "x87 CW",
        "DF",
        "RSP",
        "caller's frame",
    ];
    NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect()
}

/// Calls `f` as a Win64 caller would, with canaries in every callee-saved
/// register (RBX RBP RDI RSI R12–R15, both halves of XMM6–XMM15, MXCSR, the
/// x87 control word), the home space filled with garbage, eight more stack
/// slots as outgoing arguments (garbage too: `f` may take up to 12
/// arguments and ignore them) and guard words in the caller's own frame
/// above them; returns the mask of what `f` did not preserve (bits as in
/// [`win64_mask_names`]: 0–7 the GPRs, 8–17 XMM6–15, 18 MXCSR control
/// bits, 19 x87 CW, 20 DF set, 21 RSP moved, 22 a guard changed). The
/// caller's own state is restored before returning.
///
/// Frame, from RSP after the prologue (16-aligned): `[0, 32)` home space,
/// `[32, 96)` outgoing stack arguments, `[96, 256)` the caller's XMM6–15,
/// 256 its MXCSR, 260 its x87 CW, 264/268 scratch, 272 RSP before the call,
/// `[280, 312)` four guard words.
#[unsafe(naked)]
pub extern "win64" fn win64_canary_call(f: extern "C" fn()) -> u64 {
    naked_asm!(
        "push rbx",
        "push rbp",
        "push rdi",
        "push rsi",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        // Entry RSP ≡ 8 (mod 16); eight pushes keep that; 328 ≡ 8 aligns it.
        "sub rsp, 328",
        "movdqa [rsp + 96], xmm6",
        "movdqa [rsp + 112], xmm7",
        "movdqa [rsp + 128], xmm8",
        "movdqa [rsp + 144], xmm9",
        "movdqa [rsp + 160], xmm10",
        "movdqa [rsp + 176], xmm11",
        "movdqa [rsp + 192], xmm12",
        "movdqa [rsp + 208], xmm13",
        "movdqa [rsp + 224], xmm14",
        "movdqa [rsp + 240], xmm15",
        "stmxcsr [rsp + 256]",
        "fnstcw [rsp + 260]",
        "mov dword ptr [rsp + 264], {mxcsr}",
        "ldmxcsr [rsp + 264]",
        "mov word ptr [rsp + 268], {x87}",
        "fldcw [rsp + 268]",
        // Home space and outgoing arguments: garbage (the callee's to use).
        "movabs rax, 0xBAD0BAD0BAD0BAD0",
        "mov [rsp], rax",
        "mov [rsp + 8], rax",
        "mov [rsp + 16], rax",
        "mov [rsp + 24], rax",
        "mov [rsp + 32], rax",
        "mov [rsp + 40], rax",
        "mov [rsp + 48], rax",
        "mov [rsp + 56], rax",
        "mov [rsp + 64], rax",
        "mov [rsp + 72], rax",
        "mov [rsp + 80], rax",
        "mov [rsp + 88], rax",
        // Guards in our own frame.
        "movabs rax, 0x6A7B8C9D6A7B8C9D",
        "mov [rsp + 280], rax",
        "mov [rsp + 288], rax",
        "mov [rsp + 296], rax",
        "mov [rsp + 304], rax",
        "mov [rsp + 272], rsp",
        "lea rax, [rip + {xmm}]",
        "movdqu xmm6, [rax]",
        "movdqu xmm7, [rax + 16]",
        "movdqu xmm8, [rax + 32]",
        "movdqu xmm9, [rax + 48]",
        "movdqu xmm10, [rax + 64]",
        "movdqu xmm11, [rax + 80]",
        "movdqu xmm12, [rax + 96]",
        "movdqu xmm13, [rax + 112]",
        "movdqu xmm14, [rax + 128]",
        "movdqu xmm15, [rax + 144]",
        "mov rax, rcx",
        "movabs rbx, 0x1111111111111111",
        "movabs rbp, 0x2222222222222222",
        "movabs rdi, 0x3333333333333333",
        "movabs rsi, 0x4444444444444444",
        "movabs r12, 0x5555555555555555",
        "movabs r13, 0x6666666666666666",
        "movabs r14, 0x7777777777777777",
        "movabs r15, 0x8888888888888888",
        "call rax",
        "xor eax, eax",
        "movabs rcx, 0x1111111111111111", "cmp rbx, rcx", "je 2f", "or rax, 1", "2:",
        "movabs rcx, 0x2222222222222222", "cmp rbp, rcx", "je 2f", "or rax, 2", "2:",
        "movabs rcx, 0x3333333333333333", "cmp rdi, rcx", "je 2f", "or rax, 4", "2:",
        "movabs rcx, 0x4444444444444444", "cmp rsi, rcx", "je 2f", "or rax, 8", "2:",
        "movabs rcx, 0x5555555555555555", "cmp r12, rcx", "je 2f", "or rax, 16", "2:",
        "movabs rcx, 0x6666666666666666", "cmp r13, rcx", "je 2f", "or rax, 32", "2:",
        "movabs rcx, 0x7777777777777777", "cmp r14, rcx", "je 2f", "or rax, 64", "2:",
        "movabs rcx, 0x8888888888888888", "cmp r15, rcx", "je 2f", "or rax, 128", "2:",
        // XMM6-15 against the table, all 16 bytes each (bits 8-17).
        "lea rdx, [rip + {xmm}]",
        "movdqu xmm0, [rdx]", "pcmpeqb xmm0, xmm6", "pmovmskb ecx, xmm0", "cmp ecx, 0xFFFF", "je 2f", "or rax, 0x100", "2:",
        "movdqu xmm0, [rdx + 16]", "pcmpeqb xmm0, xmm7", "pmovmskb ecx, xmm0", "cmp ecx, 0xFFFF", "je 2f", "or rax, 0x200", "2:",
        "movdqu xmm0, [rdx + 32]", "pcmpeqb xmm0, xmm8", "pmovmskb ecx, xmm0", "cmp ecx, 0xFFFF", "je 2f", "or rax, 0x400", "2:",
        "movdqu xmm0, [rdx + 48]", "pcmpeqb xmm0, xmm9", "pmovmskb ecx, xmm0", "cmp ecx, 0xFFFF", "je 2f", "or rax, 0x800", "2:",
        "movdqu xmm0, [rdx + 64]", "pcmpeqb xmm0, xmm10", "pmovmskb ecx, xmm0", "cmp ecx, 0xFFFF", "je 2f", "or rax, 0x1000", "2:",
        "movdqu xmm0, [rdx + 80]", "pcmpeqb xmm0, xmm11", "pmovmskb ecx, xmm0", "cmp ecx, 0xFFFF", "je 2f", "or rax, 0x2000", "2:",
        "movdqu xmm0, [rdx + 96]", "pcmpeqb xmm0, xmm12", "pmovmskb ecx, xmm0", "cmp ecx, 0xFFFF", "je 2f", "or rax, 0x4000", "2:",
        "movdqu xmm0, [rdx + 112]", "pcmpeqb xmm0, xmm13", "pmovmskb ecx, xmm0", "cmp ecx, 0xFFFF", "je 2f", "or rax, 0x8000", "2:",
        "movdqu xmm0, [rdx + 128]", "pcmpeqb xmm0, xmm14", "pmovmskb ecx, xmm0", "cmp ecx, 0xFFFF", "je 2f", "or rax, 0x10000", "2:",
        "movdqu xmm0, [rdx + 144]", "pcmpeqb xmm0, xmm15", "pmovmskb ecx, xmm0", "cmp ecx, 0xFFFF", "je 2f", "or rax, 0x20000", "2:",
        // MXCSR control bits only (the exception flags 0-5 may change).
        "stmxcsr [rsp + 264]",
        "mov ecx, [rsp + 264]", "and ecx, 0xFFC0", "cmp ecx, {mxcsr}", "je 2f", "or rax, 0x40000", "2:",
        // The x87 control word, reserved bits 6 and 13-15 aside.
        "fnstcw [rsp + 268]",
        "movzx ecx, word ptr [rsp + 268]", "and ecx, 0x1F3F", "cmp ecx, {x87_cmp}", "je 2f", "or rax, 0x80000", "2:",
        "pushfq", "pop rcx", "test ecx, 0x400", "jz 2f", "or rax, 0x100000", "cld", "2:",
        "cmp [rsp + 272], rsp", "je 2f", "or rax, 0x200000", "2:",
        "movabs rcx, 0x6A7B8C9D6A7B8C9D",
        "cmp [rsp + 280], rcx", "jne 3f",
        "cmp [rsp + 288], rcx", "jne 3f",
        "cmp [rsp + 296], rcx", "jne 3f",
        "cmp [rsp + 304], rcx", "je 2f",
        "3:", "or rax, 0x400000", "2:",
        // The caller's own state back.
        "ldmxcsr [rsp + 256]",
        "fldcw [rsp + 260]",
        "movdqa xmm6, [rsp + 96]",
        "movdqa xmm7, [rsp + 112]",
        "movdqa xmm8, [rsp + 128]",
        "movdqa xmm9, [rsp + 144]",
        "movdqa xmm10, [rsp + 160]",
        "movdqa xmm11, [rsp + 176]",
        "movdqa xmm12, [rsp + 192]",
        "movdqa xmm13, [rsp + 208]",
        "movdqa xmm14, [rsp + 224]",
        "movdqa xmm15, [rsp + 240]",
        "add rsp, 328",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rsi",
        "pop rdi",
        "pop rbp",
        "pop rbx",
        "ret",
        mxcsr = const MXCSR_CANARY,
        x87 = const X87_CANARY,
        x87_cmp = const X87_CANARY & 0x1F3F,
        xmm = sym XMM_CANARIES,
    )
}

/// Runs `f` on a thread made with `CreateThread` (`w_run_on_thread`) and
/// returns its result; a panic in `f` is resumed here.
pub fn on_win_thread<T>(f: impl FnOnce() -> T) -> T {
    struct Job<'a, T> {
        f: Option<Box<dyn FnOnce() -> T + 'a>>,
        result: Option<std::thread::Result<T>>,
    }
    extern "C" fn trampoline<T>(arg: *mut c_void) {
        // SAFETY: `arg` is the `Job` below, alive until `w_run_on_thread` returns.
        let job = unsafe { &mut *(arg as *mut Job<'_, T>) };
        let f = job.f.take().expect("job runs once");
        job.result = Some(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    }
    let mut job: Job<'_, T> = Job {
        f: Some(Box::new(f)),
        result: None,
    };
    // SAFETY: the trampoline matches `void (*)(void *)`; `job` outlives the wait.
    let rc =
        unsafe { w_run_on_thread(trampoline::<T>, &mut job as *mut Job<'_, T> as *mut c_void) };
    assert_eq!(rc, 0, "w_run_on_thread: error {rc}");
    match job.result.take().expect("the thread ran the job") {
        Ok(v) => v,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// [`on_win_thread`] under the name `linux.rs` gives its pthread version, for
/// the tests written for both.
pub fn on_c_thread<T>(f: impl FnOnce() -> T) -> T {
    on_win_thread(f)
}

/// Runs `f` on the calling (plain) thread, then inside a goroutine
/// (`gort::run`), then on a `std` thread, then on a thread made with
/// `CreateThread`; `f` gets the place's name for its messages.
pub fn everywhere<F: Fn(&'static str) + Send + Sync + 'static>(f: F) {
    assert!(
        gort::current_id().is_none(),
        "everywhere() is meant to be called from a plain thread"
    );
    f("plain thread");
    let f = std::sync::Arc::new(f);
    let g = f.clone();
    gort::run(move || g("goroutine"));
    let g = f.clone();
    std::thread::spawn(move || g("std thread")).join().unwrap();
    on_win_thread(|| f("CreateThread thread"));
}

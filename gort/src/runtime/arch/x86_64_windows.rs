//! x86-64 Windows (Win64 ABI) context switch.
//!
//! Callee-saved state per the Microsoft x64 calling convention: RBX, RBP, RDI,
//! RSI, R12–R15, RSP, **all 128 bits of XMM6–XMM15**, the control bits of
//! MXCSR and the x87 control word; DF is clear at every call and nothing here
//! sets it. Every `call` made from asm here has RSP 16-byte aligned and 32 bytes
//! of shadow (home) space reserved above the return address, which the callee
//! may write.
//!
//! **The TEB.** Windows describes the running stack in the thread's TEB, and
//! both the system and Wine check it: exception dispatch and `RtlUnwindEx`
//! (which Rust panics go through on this target) refuse frames outside
//! `[StackLimit, StackBase)`, the kernel grows a thread stack through its guard
//! page only inside `[DeallocationStack, StackBase)`, and Wine walks the
//! `ExceptionList` chain (gs:[0]) when it raises an exception: left pointing
//! at frames on the thread's own stack, a panic on a goroutine stack fails to
//! start ("failed to initiate panic, error 5", `../shared/notes/platforms.md`
//! 2a). The kernel (and Wine) also commit a goroutine stack lazily through
//! its guard page only because the TEB describes it (`stack/windows.rs`),
//! keeping StackLimit at the lowest committed page and raising
//! `STATUS_STACK_OVERFLOW` once the guard reaches the last
//! GuaranteedStackBytes above DeallocationStack. So every switch swaps those
//! five words (`gs:[0x00]` ExceptionList, `gs:[0x08]` StackBase, `gs:[0x10]`
//! StackLimit, `gs:[0x1478]` DeallocationStack, `gs:[0x1748]`
//! GuaranteedStackBytes) with the stack:
//! - a goroutine's words live in its `Gobuf` while it is switched out (`mcall`
//!   saves them, `gogo` loads them); a new goroutine gets words describing its
//!   stack and an empty chain (`gogo_start`). StackLimit must be exact
//!   (unwinding rejects frames below it; `__chkstk` skips probing above it),
//!   and a pooled stack keeps the pages an earlier goroutine committed, so
//!   the stack records it in its top word (`[StackBase - 8]`, never part of a
//!   frame: goroutines start 16 bytes below the top): `mcall` writes it every
//!   time a goroutine leaves its stack, `gogo_start` reads it (0: as
//!   `stack/windows.rs` left it);
//! - g0's words live in a 48-byte **g0 header** at the M's g0 stack top
//!   (`M.g0_sp`; g0 only ever grows down from below it): written when a
//!   thread's stack becomes g0 (`mstart_on_g0`, `cgocallback_switch`) and
//!   every time g0 is left (`gogo`, `gogo_start`, the return of
//!   `systemstack_switch`), so that a thread stack the kernel grew meanwhile
//!   (a lower StackLimit) is described as it is now; read when g0 is entered
//!   (`mcall`, `systemstack_switch`).

use core::arch::{asm, naked_asm};
use core::mem::offset_of;

use crate::runtime::g::G;
use crate::runtime::m::M;
use crate::runtime::stack::{GUARANTEE, GUARD_SIZE, INITIAL_COMMIT, Stack};

/// Saved context of a goroutine that is not running.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Gobuf {
    pub sp: usize,
    pub pc: usize,
    pub rbx: usize,
    pub rbp: usize,
    pub rdi: usize,
    pub rsi: usize,
    pub r12: usize,
    pub r13: usize,
    pub r14: usize,
    pub r15: usize,
    pub mxcsr: u32,
    pub x87cw: u16,
    _pad: u16,
    /// The TEB words describing its stack (see the module comment):
    /// ExceptionList, StackBase, StackLimit, DeallocationStack,
    /// GuaranteedStackBytes (32 bits).
    pub teb: [usize; 5],
    /// XMM6–XMM15, whole (stored unaligned: `movups`).
    pub xmm: [u128; 10],
}

const SP: usize = offset_of!(Gobuf, sp);
const PC: usize = offset_of!(Gobuf, pc);
const RBX: usize = offset_of!(Gobuf, rbx);
const RBP: usize = offset_of!(Gobuf, rbp);
const RDI: usize = offset_of!(Gobuf, rdi);
const RSI: usize = offset_of!(Gobuf, rsi);
const R12: usize = offset_of!(Gobuf, r12);
const R13: usize = offset_of!(Gobuf, r13);
const R14: usize = offset_of!(Gobuf, r14);
const R15: usize = offset_of!(Gobuf, r15);
const MXCSR: usize = offset_of!(Gobuf, mxcsr);
const X87CW: usize = offset_of!(Gobuf, x87cw);
const TEB: usize = offset_of!(Gobuf, teb);
const XMM: usize = offset_of!(Gobuf, xmm);
// The asm below addresses fields by these constants; pin the layout it assumes.
const _: () = assert!(SP == 0 && PC == 8 && RBX == 16 && RBP == 24 && RDI == 32 && RSI == 40);
const _: () = assert!(R12 == 48 && R13 == 56 && R14 == 64 && R15 == 72);
const _: () = assert!(MXCSR == 80 && X87CW == 84 && TEB == 88 && XMM == 128);

/// Power-on defaults (Intel SDM vol. 1 §10.2.3 and §8.1.5), which are also what
/// Windows gives a new thread: all exceptions masked, round to nearest; x87 at
/// 53-bit precision (Windows' default, unlike Linux's 64-bit).
const MXCSR_DEFAULT: u32 = 0x1F80;
const X87CW_DEFAULT: u16 = 0x027F;

const G_STACK_LO: usize = offset_of!(G, stack) + offset_of!(Stack, lo);
const G_STACK_HI: usize = offset_of!(G, stack) + offset_of!(Stack, hi);
const STACK_LO: usize = offset_of!(Stack, lo);
const STACK_HI: usize = offset_of!(Stack, hi);
const M_G0_SP: usize = offset_of!(M, g0_sp);

/// Copies the TEB's five stack words to `[$reg + 0..40)` (clobbers RAX).
macro_rules! teb_store {
    ($reg:literal) => {
        concat!(
            "mov rax, gs:[0x00]\n",
            "mov [",
            $reg,
            "], rax\n",
            "mov rax, gs:[0x08]\n",
            "mov [",
            $reg,
            " + 8], rax\n",
            "mov rax, gs:[0x10]\n",
            "mov [",
            $reg,
            " + 16], rax\n",
            "mov rax, gs:[0x1478]\n",
            "mov [",
            $reg,
            " + 24], rax\n",
            "mov eax, gs:[0x1748]\n",
            "mov [",
            $reg,
            " + 32], rax\n",
        )
    };
}

/// Loads the TEB's five stack words from `[$reg + 0..40)` (clobbers RAX).
macro_rules! teb_load {
    ($reg:literal) => {
        concat!(
            "mov rax, [",
            $reg,
            "]\n",
            "mov gs:[0x00], rax\n",
            "mov rax, [",
            $reg,
            " + 8]\n",
            "mov gs:[0x08], rax\n",
            "mov rax, [",
            $reg,
            " + 16]\n",
            "mov gs:[0x10], rax\n",
            "mov rax, [",
            $reg,
            " + 24]\n",
            "mov gs:[0x1478], rax\n",
            "mov rax, [",
            $reg,
            " + 32]\n",
            "mov gs:[0x1748], eax\n",
        )
    };
}

/// Points the TEB at the goroutine stack `[lo, hi)` in `$lo`/`$hi` (its
/// reservation starts `GUARD_SIZE` below `lo`), with an empty exception chain,
/// the committed part the stack's top word records (see the module comment)
/// and the guarantee `stack/windows.rs` plans for (clobbers `$lo` and RAX).
macro_rules! teb_goroutine {
    ($lo:literal, $hi:literal) => {
        concat!(
            "mov qword ptr gs:[0x00], -1\n",
            "mov gs:[0x08], ",
            $hi,
            "\n",
            "sub ",
            $lo,
            ", {guard}\n",
            "mov gs:[0x1478], ",
            $lo,
            "\n",
            "mov dword ptr gs:[0x1748], {guarantee}\n",
            "mov rax, [",
            $hi,
            " - 8]\n",
            "test rax, rax\n",
            "jnz 7f\n",
            "lea rax, [",
            $hi,
            " - {initial}]\n",
            "7:\n",
            "mov gs:[0x10], rax\n",
        )
    };
}

/// Records the TEB's StackLimit in the running goroutine stack's top word
/// (see the module comment; clobbers RAX and R11).
macro_rules! record_stack_limit {
    () => {
        concat!(
            "mov rax, gs:[0x08]\n",
            "mov r11, gs:[0x10]\n",
            "mov [rax - 8], r11\n",
        )
    };
}

/// Starts a new goroutine: records g0's TEB words in its header, points the
/// TEB at `gp`'s stack, resets MXCSR and the x87 control word to their
/// defaults (only if they differ: see `gogo`), switches to `stack_top`
/// (rounded down to 16 bytes, less 16: the top word is the stack's) and
/// jumps to `gostart` with RBX = `gp`, R12 = `m`, which calls
/// `goroutine_main(gp, m)`.
///
/// # Safety
/// On `m`'s g0 stack. `stack_top` is the top of `gp`'s stack, on which
/// nothing is live; `gp` is the G this M is starting. Never returns.
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn gogo_start(stack_top: usize, gp: *mut G, m: *mut M) -> ! {
    naked_asm!(
        "mov r9, [r8 + {g0_sp}]",
        teb_store!("r9"),
        "mov r10, [rdx + {lo}]",
        "mov r11, [rdx + {hi}]",
        teb_goroutine!("r10", "r11"),
        // [rsp] is our return address, dead (we never return): scratch.
        "stmxcsr [rsp]",
        "cmp dword ptr [rsp], {mxcsr}",
        "je 2f",
        "mov dword ptr [rsp], {mxcsr}",
        "ldmxcsr [rsp]",
        "2:",
        "fnstcw [rsp]",
        "cmp word ptr [rsp], {x87cw}",
        "je 3f",
        "mov word ptr [rsp], {x87cw}",
        "fldcw [rsp]",
        "3:",
        "mov rbx, rdx",
        "mov r12, r8",
        // Below the top word (the stack's record of its StackLimit).
        "and rcx, -16",
        "lea rsp, [rcx - 16]",
        "jmp {start}",
        g0_sp = const M_G0_SP,
        lo = const G_STACK_LO,
        hi = const G_STACK_HI,
        guard = const GUARD_SIZE,
        guarantee = const GUARANTEE,
        initial = const INITIAL_COMMIT,
        mxcsr = const MXCSR_DEFAULT,
        x87cw = const X87CW_DEFAULT,
        start = sym gostart,
    )
}

/// First instruction of every goroutine. Entered by `gogo_start` (a jump, not a
/// call) with RSP 16-aligned, RBX = the G, R12 = the M.
#[unsafe(naked)]
unsafe extern "C" fn gostart() -> ! {
    naked_asm!(
        // Terminate frame-pointer walks here.
        "xor ebp, ebp",
        "mov rcx, rbx",
        "mov rdx, r12",
        // Shadow space for the callee; the call then leaves RSP ≡ 8 (mod 16).
        "sub rsp, 32",
        "call {main}",
        // goroutine_main never returns.
        "ud2",
        main = sym crate::runtime::sched::goroutine_main,
    )
}

/// `gogo`'s clearing of `m.switching`; see the System V file.
#[cfg(not(gort_no_preempt))]
macro_rules! end_switch_hold {
    () => {
        "mov byte ptr [rdx + {switching}], 0"
    };
}
#[cfg(gort_no_preempt)]
macro_rules! end_switch_hold {
    () => {
        "/* {switching} */"
    };
}

/// Restores `buf` and jumps to it. Never returns. Records g0's TEB words in
/// its header first, and ends the switch hold of `m` as its last act (see the
/// System V file for why last).
///
/// # Safety
/// On `m`'s g0 stack. `buf` must hold a context saved by `mcall` whose stack
/// is still valid and owned by the caller's M from now on.
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn gogo(buf: *const Gobuf, m: *mut M) -> ! {
    naked_asm!(
        "mov r9, [rdx + {g0_sp}]",
        teb_store!("r9"),
        "lea r9, [rcx + {teb}]",
        teb_load!("r9"),
        "mov rbx, [rcx + {rbx}]",
        "mov rbp, [rcx + {rbp}]",
        "mov rdi, [rcx + {rdi}]",
        "mov rsi, [rcx + {rsi}]",
        "mov r12, [rcx + {r12}]",
        "mov r13, [rcx + {r13}]",
        "mov r14, [rcx + {r14}]",
        "mov r15, [rcx + {r15}]",
        "movups xmm6, [rcx + {xmm} + 0x00]",
        "movups xmm7, [rcx + {xmm} + 0x10]",
        "movups xmm8, [rcx + {xmm} + 0x20]",
        "movups xmm9, [rcx + {xmm} + 0x30]",
        "movups xmm10, [rcx + {xmm} + 0x40]",
        "movups xmm11, [rcx + {xmm} + 0x50]",
        "movups xmm12, [rcx + {xmm} + 0x60]",
        "movups xmm13, [rcx + {xmm} + 0x70]",
        "movups xmm14, [rcx + {xmm} + 0x80]",
        "movups xmm15, [rcx + {xmm} + 0x90]",
        // MXCSR and the x87 control word: loaded only on a difference (LDMXCSR
        // and FLDCW are microcoded and almost never differ between goroutines).
        // [rsp], our dead return address, is scratch.
        "stmxcsr [rsp]",
        "mov eax, [rsp]",
        "cmp eax, [rcx + {mxcsr}]",
        "je 2f",
        "ldmxcsr [rcx + {mxcsr}]",
        "2:",
        "fnstcw [rsp]",
        "mov ax, [rsp]",
        "cmp ax, [rcx + {x87cw}]",
        "je 3f",
        "fldcw [rcx + {x87cw}]",
        "3:",
        // Switch stacks last: from here on we run on the goroutine's stack,
        // where mcall "returns".
        "mov rsp, [rcx + {sp}]",
        "mov rax, [rcx + {pc}]",
        end_switch_hold!(),
        "jmp rax",
        g0_sp = const M_G0_SP, teb = const TEB,
        rbx = const RBX, rbp = const RBP, rdi = const RDI, rsi = const RSI,
        r12 = const R12, r13 = const R13, r14 = const R14, r15 = const R15,
        xmm = const XMM, mxcsr = const MXCSR, x87cw = const X87CW,
        sp = const SP, pc = const PC,
        switching = const core::mem::offset_of!(M, switching),
    )
}

/// Saves the caller's context (registers and TEB words) into `save` (so that
/// `gogo(save)` later returns from this call), switches to the g0 stack at
/// `g0_sp` with g0's TEB words from its header and calls `f(gp)`.
///
/// # Safety
/// Must be called on a goroutine stack (not g0). `g0_sp` is the 16-aligned top
/// of this M's g0 stack (its header above it), below which nothing is live.
/// `f` must not return.
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn mcall(
    save: *mut Gobuf,
    g0_sp: usize,
    f: unsafe extern "C" fn(*mut G) -> !,
    gp: *mut G,
) {
    naked_asm!(
        // [rsp] is our return address: the goroutine resumes there, with RSP
        // just above it (as after `ret`).
        "mov rax, [rsp]",
        "mov [rcx + {pc}], rax",
        "lea rax, [rsp + 8]",
        "mov [rcx + {sp}], rax",
        "mov [rcx + {rbx}], rbx",
        "mov [rcx + {rbp}], rbp",
        "mov [rcx + {rdi}], rdi",
        "mov [rcx + {rsi}], rsi",
        "mov [rcx + {r12}], r12",
        "mov [rcx + {r13}], r13",
        "mov [rcx + {r14}], r14",
        "mov [rcx + {r15}], r15",
        "movups [rcx + {xmm} + 0x00], xmm6",
        "movups [rcx + {xmm} + 0x10], xmm7",
        "movups [rcx + {xmm} + 0x20], xmm8",
        "movups [rcx + {xmm} + 0x30], xmm9",
        "movups [rcx + {xmm} + 0x40], xmm10",
        "movups [rcx + {xmm} + 0x50], xmm11",
        "movups [rcx + {xmm} + 0x60], xmm12",
        "movups [rcx + {xmm} + 0x70], xmm13",
        "movups [rcx + {xmm} + 0x80], xmm14",
        "movups [rcx + {xmm} + 0x90], xmm15",
        "stmxcsr [rcx + {mxcsr}]",
        "fnstcw [rcx + {x87cw}]",
        "lea r10, [rcx + {teb}]",
        teb_store!("r10"),
        record_stack_limit!(),
        teb_load!("rdx"),
        // Onto g0's stack, shadow space reserved, and call f(gp).
        "lea rsp, [rdx - 32]",
        "mov rcx, r9",
        "call r8",
        "ud2",
        teb = const TEB,
        rbx = const RBX, rbp = const RBP, rdi = const RDI, rsi = const RSI,
        r12 = const R12, r13 = const R13, r14 = const R14, r15 = const R15,
        xmm = const XMM, mxcsr = const MXCSR, x87cw = const X87CW,
        sp = const SP, pc = const PC,
    )
}

/// Calls `f(arg)` on the g0 stack whose top is `g0_sp`, then returns to the
/// caller's stack; the TEB describes g0 meanwhile.
///
/// # Safety
/// Must be called on a goroutine stack of the M whose g0 stack top is `g0_sp`;
/// nothing may be live on that g0 stack; `f` must not unwind.
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn systemstack_switch(
    arg: *mut u8,
    f: unsafe extern "C" fn(*mut u8),
    g0_sp: usize,
) {
    naked_asm!(
        // A normal frame, so debuggers can walk from g0 back into the goroutine.
        "push rbp",
        "mov rbp, rsp",
        // RBX is callee-saved: it keeps the goroutine's RSP across the call.
        "push rbx",
        // The goroutine's TEB words (the fifth, 32 bits, pushed whole).
        "push qword ptr gs:[0x00]",
        "push qword ptr gs:[0x08]",
        "push qword ptr gs:[0x10]",
        "push qword ptr gs:[0x1478]",
        "push qword ptr gs:[0x1748]",
        teb_load!("r8"),
        "mov rbx, rsp",
        "lea rsp, [r8 - 32]",
        // f(arg): RCX still holds arg.
        "call rdx",
        // g0's words back into its header (its stack may have grown), then the
        // goroutine's.
        "lea rcx, [rsp + 32]",
        teb_store!("rcx"),
        "mov rsp, rbx",
        "pop rax",
        "mov gs:[0x1748], eax",
        "pop qword ptr gs:[0x1478]",
        "pop qword ptr gs:[0x10]",
        "pop qword ptr gs:[0x08]",
        "pop qword ptr gs:[0x00]",
        "pop rbx",
        "pop rbp",
        "ret",
    )
}

/// Saves the callee-saved registers, reserves the g0 header below them (filled
/// with this thread's TEB words), records its address in `*g0_sp_out` as this
/// M's g0 stack top and calls `f(m)` below it. `f` never returns; `mexit(g0_sp)`
/// returns from this call instead, when the thread is to end.
///
/// # Safety
/// Called once per M, at the start of its OS thread; `f` must not return.
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn mstart_on_g0(
    g0_sp_out: *mut usize,
    f: unsafe extern "C" fn(*mut M) -> !,
    m: *mut M,
) {
    naked_asm!(
        // Entry RSP ≡ 8 (mod 16); eight pushes keep that; 168 bytes (XMM6–15
        // and 8 of padding) align it.
        "push rbp",
        "push rbx",
        "push rdi",
        "push rsi",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "sub rsp, 168",
        "movups [rsp + 0x00], xmm6",
        "movups [rsp + 0x10], xmm7",
        "movups [rsp + 0x20], xmm8",
        "movups [rsp + 0x30], xmm9",
        "movups [rsp + 0x40], xmm10",
        "movups [rsp + 0x50], xmm11",
        "movups [rsp + 0x60], xmm12",
        "movups [rsp + 0x70], xmm13",
        "movups [rsp + 0x80], xmm14",
        "movups [rsp + 0x90], xmm15",
        // The g0 header (40 bytes used).
        "sub rsp, 48",
        "mov [rcx], rsp",
        teb_store!("rsp"),
        "mov rcx, r8",
        "sub rsp, 32",
        "call rdx",
        "ud2",
    )
}

/// Abandons everything on the g0 stack whose top is `g0_sp` and returns from
/// the `mstart_on_g0` call that set it up, with its callee-saved registers.
///
/// # Safety
/// On the g0 stack of the current M (`g0_sp` its top); nothing on that stack
/// owns anything (no destructors will run).
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn mexit(g0_sp: usize) -> ! {
    naked_asm!(
        "lea rsp, [rcx + 48]",
        "movups xmm6, [rsp + 0x00]",
        "movups xmm7, [rsp + 0x10]",
        "movups xmm8, [rsp + 0x20]",
        "movups xmm9, [rsp + 0x30]",
        "movups xmm10, [rsp + 0x40]",
        "movups xmm11, [rsp + 0x50]",
        "movups xmm12, [rsp + 0x60]",
        "movups xmm13, [rsp + 0x70]",
        "movups xmm14, [rsp + 0x80]",
        "movups xmm15, [rsp + 0x90]",
        "add rsp, 168",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rsi",
        "pop rdi",
        "pop rbx",
        "pop rbp",
        "ret",
    )
}

/// Reserves a g0 header just below this call's frame (filled with this
/// thread's TEB words) and records it in `*g0_sp_out` as the M's g0 stack
/// top, points the TEB at the goroutine stack `stack` and calls `f(arg)` at
/// its top; when `f` returns, restores g0's TEB words and returns on the
/// caller's stack (Go's `cgocallback`). See the System V file.
///
/// # Safety
/// `stack` is the stack of the current M's goroutine, on which nothing is
/// live; `f` must not unwind.
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn cgocallback_switch(
    arg: *mut u8,
    f: unsafe extern "C" fn(*mut u8),
    stack: *const Stack,
    g0_sp_out: *mut usize,
) {
    naked_asm!(
        "push rbp",
        "mov rbp, rsp",
        "push rbx",
        // Entry RSP ≡ 8 (mod 16); two pushes and 56 bytes (the 48-byte
        // header and padding) align it.
        "sub rsp, 56",
        "mov [r9], rsp",
        teb_store!("rsp"),
        "mov rbx, rsp",
        "mov r10, [r8 + {lo}]",
        "mov r11, [r8 + {hi}]",
        "mov rsp, r11",
        teb_goroutine!("r10", "r11"),
        // Below the top word, then the shadow space.
        "and rsp, -16",
        "sub rsp, 48",
        // f(arg): RCX still holds arg.
        "call rdx",
        record_stack_limit!(),
        "mov rsp, rbx",
        teb_load!("rsp"),
        "add rsp, 56",
        "pop rbx",
        "pop rbp",
        "ret",
        lo = const STACK_LO,
        hi = const STACK_HI,
        guard = const GUARD_SIZE,
        guarantee = const GUARANTEE,
        initial = const INITIAL_COMMIT,
    )
}

/// The stack pointer.
#[inline(always)]
pub(crate) fn current_sp() -> usize {
    let sp: usize;
    // SAFETY: reads a register, touches nothing.
    unsafe { asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
    sp
}

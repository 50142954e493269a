//! x86-64 System V context switch.
//!
//! Callee-saved state per the System V AMD64 ABI (§3.2.1): RBX, RBP, R12–R15, RSP,
//! the control bits of MXCSR and the x87 control word. The direction flag is clear
//! at every call boundary and none of these routines sets it, so it needs no slot.
//! Caller-saved registers need no saving: every switch below is entered through a
//! `call` from Rust, so the compiler has already spilled whatever it needs.
//!
//! Stack alignment: at a `call` instruction RSP is 16-byte aligned (so the callee
//! sees RSP ≡ 8 mod 16). g0 stack tops and fresh goroutine stack tops are kept
//! 16-byte aligned so that the `call` right after a switch satisfies this.

use core::arch::{asm, naked_asm};
use core::mem::offset_of;

use crate::runtime::g::G;
use crate::runtime::m::M;
use crate::runtime::stack::Stack;

/// Saved context of a goroutine that is not running.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Gobuf {
    pub sp: usize,
    pub pc: usize,
    pub rbx: usize,
    pub rbp: usize,
    pub r12: usize,
    pub r13: usize,
    pub r14: usize,
    pub r15: usize,
    pub mxcsr: u32,
    pub x87cw: u16,
    _pad: u16,
}

const SP: usize = offset_of!(Gobuf, sp);
const PC: usize = offset_of!(Gobuf, pc);
const RBX: usize = offset_of!(Gobuf, rbx);
const RBP: usize = offset_of!(Gobuf, rbp);
const R12: usize = offset_of!(Gobuf, r12);
const R13: usize = offset_of!(Gobuf, r13);
const R14: usize = offset_of!(Gobuf, r14);
const R15: usize = offset_of!(Gobuf, r15);
const MXCSR: usize = offset_of!(Gobuf, mxcsr);
const X87CW: usize = offset_of!(Gobuf, x87cw);
// The asm below addresses fields by these constants; pin the layout it assumes.
const _: () = assert!(SP == 0 && PC == 8 && RBX == 16 && RBP == 24);
const _: () = assert!(R12 == 32 && R13 == 40 && R14 == 48 && R15 == 56);
const _: () = assert!(MXCSR == 64 && X87CW == 68 && core::mem::size_of::<Gobuf>() == 72);

/// Power-on defaults (Intel SDM vol. 1 §10.2.3 and §8.1.5): all exceptions masked,
/// round to nearest; x87 at 64-bit precision. A new goroutine starts with these,
/// like a new thread.
const MXCSR_DEFAULT: u32 = 0x1F80;
const X87CW_DEFAULT: u16 = 0x037F;

/// Starts a new goroutine: resets MXCSR and the x87 control word to their
/// defaults (only if they differ: see `gogo`), switches to `stack_top` (rounded
/// down to 16 bytes) and jumps to `gostart` with RBX = `gp`, R12 = `m`, which
/// calls `goroutine_main(gp, m)`. Unlike `gogo` it reads no `Gobuf`: a new goroutine has
/// no saved context, so starting one touches nothing of its G but what the
/// scheduler already read.
///
/// # Safety
/// `stack_top` is the top of a stack owned by `gp`, on which nothing is live;
/// `gp` is the G this M is starting. Never returns.
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn gogo_start(stack_top: usize, gp: *mut G, m: *mut M) -> ! {
    naked_asm!(
        "stmxcsr [rsp - 8]",
        "cmp dword ptr [rsp - 8], {mxcsr}",
        "je 2f",
        "mov dword ptr [rsp - 8], {mxcsr}",
        "ldmxcsr [rsp - 8]",
        "2:",
        "fnstcw [rsp - 8]",
        "cmp word ptr [rsp - 8], {x87cw}",
        "je 3f",
        "mov word ptr [rsp - 8], {x87cw}",
        "fldcw [rsp - 8]",
        "3:",
        "mov rbx, rsi",
        "mov r12, rdx",
        "and rdi, -16",
        "mov rsp, rdi",
        "jmp {start}",
        mxcsr = const MXCSR_DEFAULT,
        x87cw = const X87CW_DEFAULT,
        start = sym gostart,
    )
}

/// First instruction of every goroutine. Entered by `gogo_start` (a jump, not a call)
/// with RSP 16-aligned and RBX = the G.
#[unsafe(naked)]
unsafe extern "C" fn gostart() -> ! {
    naked_asm!(
        // Terminate frame-pointer walks here.
        "xor ebp, ebp",
        // goroutine_main(gp): the call pushes the return address, so the callee
        // sees the ABI's RSP ≡ 8 (mod 16).
        "mov rdi, rbx",
        "mov rsi, r12",
        "call {main}",
        // goroutine_main never returns.
        "ud2",
        main = sym crate::runtime::sched::goroutine_main,
    )
}

/// `gogo`'s clearing of `m.switching`; left out of the measurement-only build
/// without preemption (`preempt::ENABLED`). (The operand stays referenced, in
/// an assembler comment, so both builds take the same operands.)
#[cfg(not(gort_no_preempt))]
macro_rules! end_switch_hold {
    () => {
        "mov byte ptr [rsi + {switching}], 0"
    };
}
#[cfg(gort_no_preempt)]
macro_rules! end_switch_hold {
    () => {
        "/* {switching} */"
    };
}

/// Restores `buf` and jumps to it. Never returns. Ends the switch hold of `m`
/// (the M now running the goroutine: `m.switching`, see `sched::park::mcall`)
/// as its last act, with the target already in a register: a preemption at
/// that final jump is harmless (it saves and restores every register and
/// re-executes the jump), whereas re-reading `buf` after it would not be
/// (the preemption's own `mcall` overwrites `buf`).
///
/// # Safety
/// `buf` must hold a context saved by `mcall`
/// whose stack is still valid and owned by the caller's M from now on.
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn gogo(buf: *const Gobuf, m: *mut M) -> ! {
    naked_asm!(
        "mov rbx, [rdi + {rbx}]",
        "mov rbp, [rdi + {rbp}]",
        "mov r12, [rdi + {r12}]",
        "mov r13, [rdi + {r13}]",
        "mov r14, [rdi + {r14}]",
        "mov r15, [rdi + {r15}]",
        // MXCSR and the x87 control word: loading them is slow (LDMXCSR and FLDCW
        // are microcoded; they were ~80% of this function's cycles), and they
        // almost never differ between goroutines, so compare and load only on a
        // difference. [rsp - 8] is scratch: below our return address, and the
        // stack is abandoned right after.
        "stmxcsr [rsp - 8]",
        "mov eax, [rsp - 8]",
        "cmp eax, [rdi + {mxcsr}]",
        "je 2f",
        "ldmxcsr [rdi + {mxcsr}]",
        "2:",
        "fnstcw [rsp - 8]",
        "mov ax, [rsp - 8]",
        "cmp ax, [rdi + {x87cw}]",
        "je 3f",
        "fldcw [rdi + {x87cw}]",
        "3:",
        // Switch stacks last: from here on we run on the goroutine's stack.
        "mov rsp, [rdi + {sp}]",
        // For a goroutine parked in mcall this is mcall's return address, and RSP
        // is where mcall's `ret` would have left it: mcall "returns".
        "mov rcx, [rdi + {pc}]",
        end_switch_hold!(),
        "jmp rcx",
        rbx = const RBX, rbp = const RBP, r12 = const R12, r13 = const R13,
        r14 = const R14, r15 = const R15, mxcsr = const MXCSR, x87cw = const X87CW,
        sp = const SP, pc = const PC,
        switching = const core::mem::offset_of!(M, switching),
    )
}

/// Saves the caller's context into `save` (so that `gogo(save)` later returns from
/// this call), switches to the g0 stack at `g0_sp` and calls `f(gp)`.
///
/// # Safety
/// Must be called on a goroutine stack (not g0). `g0_sp` is the 16-aligned top of
/// this M's g0 stack, on which nothing is live. `f` must not return.
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn mcall(
    save: *mut Gobuf,
    g0_sp: usize,
    f: unsafe extern "C" fn(*mut G) -> !,
    gp: *mut G,
) {
    naked_asm!(
        // [rsp] is our return address: that is where the goroutine resumes, with
        // RSP just above it (as after `ret`).
        "mov rax, [rsp]",
        "mov [rdi + {pc}], rax",
        "lea rax, [rsp + 8]",
        "mov [rdi + {sp}], rax",
        "mov [rdi + {rbx}], rbx",
        "mov [rdi + {rbp}], rbp",
        "mov [rdi + {r12}], r12",
        "mov [rdi + {r13}], r13",
        "mov [rdi + {r14}], r14",
        "mov [rdi + {r15}], r15",
        "stmxcsr [rdi + {mxcsr}]",
        "fnstcw [rdi + {x87cw}]",
        // Onto g0's stack (16-aligned) and call f(gp).
        "mov rsp, rsi",
        "mov rdi, rcx",
        "call rdx",
        "ud2",
        rbx = const RBX, rbp = const RBP, r12 = const R12, r13 = const R13,
        r14 = const R14, r15 = const R15, mxcsr = const MXCSR, x87cw = const X87CW,
        sp = const SP, pc = const PC,
    )
}

/// Calls `f(arg)` on the g0 stack whose top is `g0_sp`, then returns to the caller's
/// stack.
///
/// # Safety
/// Must be called on a goroutine stack of the M whose g0 stack top is `g0_sp`;
/// nothing may be live on that g0 stack; `f` must not unwind (it is `extern "C"`,
/// so a panic aborts).
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
        // RBX is callee-saved: keep the goroutine's RSP in it across the call.
        "push rbx",
        "mov rbx, rsp",
        "mov rsp, rdx",
        // f(arg): RDI still holds arg.
        "call rsi",
        "mov rsp, rbx",
        "pop rbx",
        "pop rbp",
        "ret",
    )
}

/// Saves the callee-saved registers, records the 16-aligned stack pointer below
/// them in `*g0_sp_out` as this M's g0 stack top and calls `f(m)` there. `f`
/// never returns; `mexit(g0_sp)` returns from this call instead, when the
/// thread is to end (everything above the g0 stack top is still intact: g0's
/// users only ever grow the stack down from it).
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
        // Entry RSP ≡ 8 (mod 16); six pushes keep that, the `sub` aligns it.
        "push rbp",
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "sub rsp, 8",
        "mov [rdi], rsp",
        "mov rdi, rdx",
        "call rsi",
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
        "lea rsp, [rdi + 8]",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "ret",
    )
}

/// Records in `*g0_sp_out` a 16-aligned g0 stack top just below this call's
/// frame, then calls `f(arg)` at the top of the goroutine stack `stack` and,
/// when `f` returns, returns on the caller's stack (Go's `cgocallback`).
///
/// For a callback on a thread the runtime did not create: the thread's own
/// stack, below the foreign frames, serves as its extra M's g0 while the
/// callback's goroutine runs (`mcall` switches there if it parks). The
/// caller's callee-saved registers are preserved as in any call: RBX and RBP
/// here, the rest by `f`, which is `extern "C"` (a park in between restores
/// them through the goroutine's `Gobuf`).
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
        "mov rbx, rsp",
        // g0 grows down from below our frame (16 bytes of gap, then aligned).
        "lea rax, [rsp - 16]",
        "and rax, -16",
        "mov [rcx], rax",
        "mov rsp, [rdx + {hi}]",
        "and rsp, -16",
        // f(arg): RDI still holds arg; the call leaves the callee RSP ≡ 8 (mod 16).
        "call rsi",
        "mov rsp, rbx",
        "pop rbx",
        "pop rbp",
        "ret",
        hi = const core::mem::offset_of!(Stack, hi),
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

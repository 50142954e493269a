//! x86-64 System V: the callback table and its common entry.
//!
//! **Stubs.** Stub `i` is `mov r11d, i; jmp callback_common`, padded to 16
//! bytes with `int3`. R11 is a scratch register that carries no argument
//! (§3.2.3: it is neither an argument register nor preserved). Go's table is
//! a run of `CALL`s instead, the common routine finding the slot from the
//! return address it pops; that leaves the CPU's return-stack predictor one
//! entry out of step, and every return up the C caller's stack then
//! mispredicts: with a comparator called 20 million times by `qsort` that
//! is the whole budget.
//!
//! **Common entry** (`callback_common`), on the caller's stack:
//! - saves RBX, RBP, R12–R15 (callee-saved, §3.2.1) and, below them, a
//!   `Frame`; the ABI has no spill area for a callee to reserve, so the
//!   frame holds only what we capture;
//! - clears DF (the ABI guarantees it clear at a call, but a caller that broke
//!   that rule must not make our string instructions run backwards);
//! - records MXCSR and the x87 control word, whose control bits are
//!   callee-saved, and restores them on the way out if the callback changed
//!   them (loading them is slow, so only on a difference);
//! - captures RDI RSI RDX RCX R8 R9, the low 64 bits of XMM0–7 (scalar
//!   `f32`/`f64` arguments) and the address of the first stack argument;
//! - calls `dispatch(slot, frame)` with RSP 16-aligned, then returns RAX and
//!   XMM0 from the frame.
//!
//! The callback runs with the caller's floating-point control state, as a C
//! callee would.

use core::arch::{global_asm, naked_asm};
use core::mem::offset_of;

use crate::ffi::table::{CAPACITY, dispatch};

/// Bytes per entry stub.
pub const STUB_SIZE: usize = 16;

/// What `callback_common` captures for the dispatcher, and the result it
/// hands back. Layout shared with the asm (offsets pinned below).
#[repr(C)]
pub struct Frame {
    /// RDI RSI RDX RCX R8 R9.
    gp: [u64; 6],
    /// XMM0–7, low 64 bits.
    fp: [u64; 8],
    /// The first argument passed on the stack (eight bytes per argument).
    stack: *const u64,
    /// Returned in RAX.
    ret_gp: u64,
    /// Returned in XMM0 (low 64 bits).
    ret_fp: u64,
    mxcsr: u32,
    x87cw: u16,
    _pad: u16,
}

const GP: usize = offset_of!(Frame, gp);
const FP: usize = offset_of!(Frame, fp);
const STACK: usize = offset_of!(Frame, stack);
const RET_GP: usize = offset_of!(Frame, ret_gp);
const RET_FP: usize = offset_of!(Frame, ret_fp);
const MXCSR: usize = offset_of!(Frame, mxcsr);
const X87CW: usize = offset_of!(Frame, x87cw);
const _: () = assert!(GP == 0 && FP == 48 && STACK == 112 && RET_GP == 120 && RET_FP == 128);
const _: () = assert!(MXCSR == 136 && X87CW == 140 && size_of::<Frame>() == 144);
/// Scratch for reading the control words on the way out, after the frame.
const SCRATCH: usize = size_of::<Frame>();
/// Stack reserved below the six saved registers: the frame and the scratch
/// word. Entry RSP ≡ 8 (mod 16) (the return address); seven pushes make it
/// 0; this keeps it so for the call to `dispatch`.
const ALLOC: usize = SCRATCH + 8;
const _: () = assert!((8 + 6 * 8 + ALLOC).is_multiple_of(16));

impl Frame {
    #[inline(always)]
    pub fn set_int(&mut self, v: u64) {
        self.ret_gp = v;
    }

    #[inline(always)]
    pub fn set_float(&mut self, v: u64) {
        self.ret_fp = v;
    }
}

/// Reads arguments in order (§3.2.3): INTEGER-class ones (integers, bool,
/// pointers) from the next free of the six general registers, SSE-class ones
/// (`f32`, `f64`) from the next of the eight vector registers, each class
/// counted on its own; once a class's registers are used up its arguments
/// come from the stack, eight bytes each, in argument order. Only the low
/// bits of a register or slot belong to a narrow argument: the decoder
/// truncates and sign- or zero-extends by the Rust type.
pub struct Args<'a> {
    frame: &'a Frame,
    gp: usize,
    fp: usize,
    stack: usize,
}

impl<'a> Args<'a> {
    #[inline(always)]
    pub fn new(frame: &'a Frame) -> Args<'a> {
        Args {
            frame,
            gp: 0,
            fp: 0,
            stack: 0,
        }
    }

    #[inline(always)]
    pub fn int(&mut self) -> u64 {
        if self.gp < self.frame.gp.len() {
            self.gp += 1;
            self.frame.gp[self.gp - 1]
        } else {
            self.next_stack()
        }
    }

    #[inline(always)]
    pub fn float(&mut self) -> u64 {
        if self.fp < self.frame.fp.len() {
            self.fp += 1;
            self.frame.fp[self.fp - 1]
        } else {
            self.next_stack()
        }
    }

    #[inline(always)]
    fn next_stack(&mut self) -> u64 {
        self.stack += 1;
        // SAFETY: the caller passed this many stack arguments (the signature
        // says so), and they lie above its return address, where `stack`
        // points.
        unsafe { *self.frame.stack.add(self.stack - 1) }
    }
}

unsafe extern "C" {
    #[link_name = "__gort_ffi_table"]
    static TABLE: u8;
    #[cfg(test)]
    #[link_name = "__gort_ffi_table_end"]
    static TABLE_END: u8;
}

/// Address of stub 0.
#[inline]
pub fn table_base() -> usize {
    &raw const TABLE as usize
}

/// Size of the table in bytes (`CAPACITY * STUB_SIZE` unless the assembler
/// laid it out differently: checked by a test).
#[cfg(test)]
pub fn table_len() -> usize {
    &raw const TABLE_END as usize - table_base()
}

global_asm!(
    ".pushsection .text.gort_ffi_table,\"ax\",@progbits",
    ".p2align 4, 0xcc",
    ".globl __gort_ffi_table",
    ".hidden __gort_ffi_table",
    "__gort_ffi_table:",
    ".set __gort_ffi_slot, 0",
    ".rept {n}",
    "movl $__gort_ffi_slot, %r11d",
    "jmp {common}",
    ".p2align 4, 0xcc",
    ".set __gort_ffi_slot, __gort_ffi_slot + 1",
    ".endr",
    ".globl __gort_ffi_table_end",
    ".hidden __gort_ffi_table_end",
    "__gort_ffi_table_end:",
    ".popsection",
    n = const CAPACITY,
    common = sym callback_common,
    options(att_syntax)
);

/// Where every stub jumps, with R11 = the slot (see the module comment).
#[unsafe(naked)]
unsafe extern "C" fn callback_common() {
    naked_asm!(
        "push rbp",
        "mov rbp, rsp",
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "sub rsp, {alloc}",
        "cld",
        "mov [rsp + {gp}], rdi",
        "mov [rsp + {gp} + 8], rsi",
        "mov [rsp + {gp} + 16], rdx",
        "mov [rsp + {gp} + 24], rcx",
        "mov [rsp + {gp} + 32], r8",
        "mov [rsp + {gp} + 40], r9",
        "movq [rsp + {fp}], xmm0",
        "movq [rsp + {fp} + 8], xmm1",
        "movq [rsp + {fp} + 16], xmm2",
        "movq [rsp + {fp} + 24], xmm3",
        "movq [rsp + {fp} + 32], xmm4",
        "movq [rsp + {fp} + 40], xmm5",
        "movq [rsp + {fp} + 48], xmm6",
        "movq [rsp + {fp} + 56], xmm7",
        // Above the saved RBP: the return address, then the stack arguments.
        "lea rax, [rbp + 16]",
        "mov [rsp + {stack}], rax",
        "stmxcsr [rsp + {mxcsr}]",
        "fnstcw [rsp + {x87cw}]",
        "mov edi, r11d",
        "mov rsi, rsp",
        "call {dispatch}",
        "stmxcsr [rsp + {scratch}]",
        "mov eax, [rsp + {scratch}]",
        "cmp eax, [rsp + {mxcsr}]",
        "je 2f",
        "ldmxcsr [rsp + {mxcsr}]",
        "2:",
        "fnstcw [rsp + {scratch}]",
        "mov ax, [rsp + {scratch}]",
        "cmp ax, [rsp + {x87cw}]",
        "je 3f",
        "fldcw [rsp + {x87cw}]",
        "3:",
        "mov rax, [rsp + {ret_gp}]",
        "movq xmm0, [rsp + {ret_fp}]",
        "add rsp, {alloc}",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "ret",
        alloc = const ALLOC,
        gp = const GP,
        fp = const FP,
        stack = const STACK,
        mxcsr = const MXCSR,
        x87cw = const X87CW,
        scratch = const SCRATCH,
        ret_gp = const RET_GP,
        ret_fp = const RET_FP,
        dispatch = sym dispatch,
    )
}

//! x86-64 Windows (the Win64 calling convention): the callback table and its
//! common entry.
//!
//! **The convention, as far as it matters here.** Arguments are
//! *positional*: argument `i` (0-based) of the first four goes in RCX, RDX,
//! R8 or R9 if it is integer-class (integers, bool, pointers) and in XMM0,
//! XMM1, XMM2 or XMM3 if it is `f32`/`f64`, one register per position, never
//! both (an `f64` second argument is in XMM1, and RDX is then unused). The
//! rest are on the stack, eight bytes each, at `[entry RSP + 8 + 32 +
//! 8 * (i - 4)]`: above the return address lies the 32-byte *home* (shadow)
//! space every caller reserves for the callee's four register arguments,
//! whatever their number, and which the callee may write. Results come back
//! in RAX or XMM0. Callee-saved: RBX RBP RDI RSI R12–R15, all 128 bits of
//! XMM6–XMM15, the MXCSR control bits and the x87 control word; DF is clear
//! at calls and returns. Every call is made with RSP 16-aligned and 32 bytes
//! of home space above it. `extern "system"` is `extern "C"` on this target,
//! so both spellings of `Callback` share this entry.
//!
//! **Stubs.** Stub `i` is `lea r10, [rip + SLOTS + 32 * i]; jmp [r10]`,
//! padded to 16 bytes with `int3`: R10 = slot `i`'s record (`table::Slot`),
//! then a jump to the record's `entry`. R10 is volatile and carries no
//! argument in Win64 (RAX neither, nor R11), so the argument registers, the
//! return address, the home space and the stack arguments are exactly as the
//! foreign caller left them.
//!
//! The record's `entry` is one of:
//! - a **register shim** (`shim_rcx` … `shim_r9`): when the signature has
//!   fewer than four arguments, the record fits in the register of the next
//!   position (integer-class: RCX, RDX, R8 or R9 for 0 to 3 arguments, of
//!   whatever classes). The shim puts it there and jumps to the slot's thunk,
//!   a Rust function compiled for the signature with the record as one more
//!   parameter: the compiler itself then reads the arguments by the ABI,
//!   saves the callee-saved registers it uses and returns the result. The
//!   thunk's home space is the one the foreign caller reserved (32 bytes, for
//!   any signature), so its spills land where C expects them. There is no
//!   asm fast path as on Linux: the runtime's current M is a plain
//!   `thread_local!` here (`runtime::tls`), which asm cannot name, so the
//!   thunk's `cgocallback` finds the goroutine (`enter_fast`, in Rust);
//! - the **frame shim** (`callback_frame`), for four or more arguments (the
//!   record's position would be on the stack, in a slot the caller did not
//!   pass): it captures RCX RDX R8 R9, the low 64 bits of XMM0–3 and the
//!   address of the first stack argument into a `Frame` in its own frame
//!   (below its RSP: the home space above the return address is the caller's
//!   to reserve and the callee's to clobber, so nothing of the entry lives
//!   there), calls the thunk through `dispatch_frame` with 32 bytes of home
//!   space and RSP 16-aligned, and returns RAX and XMM0 from the frame. It
//!   has SEH unwind data (`.seh_*`), so a backtrace taken inside a callback
//!   walks through it to the C caller;
//! - `empty_slot`, which aborts: the slot's `Callback` was dropped.
//!
//! Callee-saved registers: the shims and the frame shim write none of them
//! (RBP aside, which the frame shim pushes and pops), and everything they
//! reach is compiled Rust, which preserves them as the ABI says; every
//! goroutine switch inside a callback carries each goroutine's own RBX RBP
//! RDI RSI R12–R15, XMM6–15, MXCSR and x87 control word (`arch`), so the
//! callback returns with the caller's values. DF is clear at every call and
//! no Rust code sets it; the frame shim clears it on entry anyway. The
//! callee-saved canary tests (`ffi-tests/tests/win64.rs`) check all of it
//! across parks, spawns and sleeps.
//!
//! Everything here that runs for a call (the stubs, the shims, the frame shim
//! and dispatcher) and the thunks it reaches are in the callback text
//! (`.text$gortc_m`, bounded by `runtime::text`): a preemption that
//! lands there wires the goroutine to its thread first
//! (`runtime::m::in_callback_text`).

use core::arch::{global_asm, naked_asm};
use core::mem::offset_of;
use core::sync::atomic::Ordering;

use crate::ffi::table::{CAPACITY, SLOT_ENTRY, SLOT_SIZE, SLOT_THUNK, SLOTS, Slot, dangling};

/// Bytes per entry stub.
pub const STUB_SIZE: usize = 16;

/// Arguments passed in registers: one register per position.
const REG_ARGS: usize = 4;

/// What `callback_frame` captures for the dispatcher, and the result it
/// hands back. Layout shared with the asm (offsets pinned below).
#[repr(C)]
pub struct Frame {
    /// RCX RDX R8 R9: arguments 0–3 where integer-class.
    gp: [u64; REG_ARGS],
    /// XMM0–3, low 64 bits: arguments 0–3 where `f32`/`f64`.
    fp: [u64; REG_ARGS],
    /// Argument 4, the first passed on the stack (eight bytes per argument).
    stack: *const u64,
    /// Returned in RAX.
    ret_gp: u64,
    /// Returned in XMM0 (low 64 bits).
    ret_fp: u64,
}

const GP: usize = offset_of!(Frame, gp);
const FP: usize = offset_of!(Frame, fp);
const STACK: usize = offset_of!(Frame, stack);
const RET_GP: usize = offset_of!(Frame, ret_gp);
const RET_FP: usize = offset_of!(Frame, ret_fp);
const _: () = assert!(GP == 0 && FP == 32 && STACK == 64 && RET_GP == 72 && RET_FP == 80);
const _: () = assert!(size_of::<Frame>() == 88);

/// The home space a Win64 caller reserves above its callee's return address.
const HOME: usize = 32;
/// Where the frame shim keeps its `Frame`: above the home space it reserves
/// for `dispatch_frame`, which may write all of that.
const FRAME_AT: usize = HOME;
/// Stack the frame shim reserves below its saved RBP: home space for its
/// callee, then the frame, rounded up so that RSP is 16-aligned at the call
/// (entry RSP ≡ 8 (mod 16) for the return address, one push makes it 0).
const ALLOC: usize = (FRAME_AT + size_of::<Frame>()).next_multiple_of(16);
const _: () = assert!((8 + 8 + ALLOC).is_multiple_of(16));
/// The first stack argument, from the frame shim's RBP (the entry RSP minus
/// the pushed RBP): above the saved RBP, the return address and the
/// caller's home space.
const STACK_ARGS_FROM_RBP: usize = 8 + 8 + HOME;

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

/// Reads arguments in order by position: argument `i < 4` from the `i`-th
/// general register if it is integer-class, from the `i`-th vector register
/// if it is a float (the two classes share one count); from argument 4 on,
/// from the stack, eight bytes each. Only the low bits of a register or slot
/// belong to a narrow argument: the decoder truncates and sign- or
/// zero-extends by the Rust type.
pub struct Args<'a> {
    frame: &'a Frame,
    next: usize,
}

impl<'a> Args<'a> {
    #[inline(always)]
    pub fn new(frame: &'a Frame) -> Args<'a> {
        Args { frame, next: 0 }
    }

    #[inline(always)]
    pub fn int(&mut self) -> u64 {
        let i = self.take();
        if i < REG_ARGS {
            self.frame.gp[i]
        } else {
            self.stack(i)
        }
    }

    #[inline(always)]
    pub fn float(&mut self) -> u64 {
        let i = self.take();
        if i < REG_ARGS {
            self.frame.fp[i]
        } else {
            self.stack(i)
        }
    }

    /// The next argument's position.
    #[inline(always)]
    fn take(&mut self) -> usize {
        self.next += 1;
        self.next - 1
    }

    #[inline(always)]
    fn stack(&self, i: usize) -> u64 {
        // SAFETY: the caller passed at least `i + 1` arguments (the signature
        // says so), and those from the fifth on lie above its home space,
        // where `stack` points.
        unsafe { *self.frame.stack.add(i - REG_ARGS) }
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
    // In the callback text (see `runtime::text`). COFF has no
    // `.pushsection`; the block ends by going back to `.text`.
    ".section .text$gortc_m,\"xr\"",
    ".p2align 4, 0xcc",
    ".globl __gort_ffi_table",
    "__gort_ffi_table:",
    ".set __gort_ffi_slot, 0",
    ".rept {n}",
    "leaq {slots}+(__gort_ffi_slot*{size})(%rip), %r10",
    "jmpq *{entry}(%r10)",
    ".p2align 4, 0xcc",
    ".set __gort_ffi_slot, __gort_ffi_slot + 1",
    ".endr",
    ".globl __gort_ffi_table_end",
    "__gort_ffi_table_end:",
    ".text",
    n = const CAPACITY,
    slots = sym SLOTS,
    size = const SLOT_SIZE,
    entry = const SLOT_ENTRY,
    options(att_syntax)
);

const _: () = assert!(SLOT_SIZE.is_power_of_two());

/// Register shims, with R10 = the slot's record: the record into `$reg`
/// (the register of the position after the last argument), then the thunk.
/// Only the shim's own register is written.
macro_rules! shims {
    ($($name:ident: $reg:literal),*) => {$(
        #[unsafe(naked)]
        #[unsafe(link_section = ".text$gortc_m")]
        unsafe extern "C" fn $name() {
            naked_asm!(
                concat!("mov ", $reg, ", r10"),
                "jmp qword ptr [r10 + {thunk}]",
                thunk = const SLOT_THUNK,
            )
        }
    )*};
}

shims!(shim_rcx: "rcx", shim_rdx: "rdx", shim_r8: "r8", shim_r9: "r9");

/// The register shims that check for the goroutine in asm: none here (see
/// the module comment).
#[cfg(test)]
pub fn fast_entries() -> [usize; 0] {
    []
}

/// The entry for a signature of `args` arguments (`ints` of them
/// integer-class: positions, not classes, decide here) whose register thunk
/// takes the slot record as one more: `None` unless the record's position
/// is one of the four register ones; then the frame shim is used.
pub fn register_entry(_ints: usize, args: usize) -> Option<*const u8> {
    let shim: unsafe extern "C" fn() = match args {
        0 => shim_rcx,
        1 => shim_rdx,
        2 => shim_r8,
        3 => shim_r9,
        _ => return None,
    };
    Some(shim as *const u8)
}

/// The entry for signatures decoded from a `Frame`.
pub fn frame_entry() -> *const u8 {
    (&raw const callback_frame_entry).cast()
}

/// What a frame-path thunk is: reads its arguments from the frame, runs the
/// closure `data`, stores the result in the frame.
pub type FrameThunk = unsafe fn(data: *mut (), frame: *mut Frame);

/// Called by `callback_frame` with the slot's record.
///
/// # Safety
/// `rec` is a published record whose thunk is a `FrameThunk`; `frame` is
/// filled for this call.
#[unsafe(link_section = ".text$gortc_m")]
unsafe extern "C" fn dispatch_frame(rec: *const Slot, frame: *mut Frame) {
    // SAFETY: per the contract.
    unsafe {
        let thunk = (*rec).thunk.load(Ordering::Relaxed);
        let thunk = core::mem::transmute::<*mut u8, FrameThunk>(thunk);
        thunk((*rec).data.load(Ordering::Relaxed), frame)
    }
}

/// What the frame shim calls.
#[cfg(not(test))]
use dispatch_frame as frame_callee;

/// What the frame shim calls in the crate's own tests: `dispatch_frame`,
/// after scribbling over the home space the shim reserved for it, as any
/// callee may (MSVC-compiled code spills its register arguments there;
/// LLVM seldom does), so that the frame-path tests fail if the shim kept
/// anything there. A tail jump: RCX and RDX are untouched.
#[cfg(test)]
use dispatch_scribbling as frame_callee;

#[cfg(test)]
#[unsafe(naked)]
#[unsafe(link_section = ".text$gortc_m")]
unsafe extern "C" fn dispatch_scribbling() {
    naked_asm!(
        "movabs rax, 0xBAD0BAD0BAD0BAD0",
        "mov [rsp + 8], rax",
        "mov [rsp + 16], rax",
        "mov [rsp + 24], rax",
        "mov [rsp + 32], rax",
        "jmp {dispatch}",
        dispatch = sym dispatch_frame,
    )
}

unsafe extern "C" {
    /// `callback_frame` below, named for `frame_entry`.
    #[link_name = "__gort_ffi_callback_frame"]
    static callback_frame_entry: u8;
}

// The frame shim (see the module comment), with R10 = the slot's record.
// Global asm rather than a naked function, for the `.seh_*` directives that
// describe its prologue to the Windows unwinder.
global_asm!(
    ".section .text$gortc_m,\"xr\"",
    ".p2align 4, 0xcc",
    ".globl __gort_ffi_callback_frame",
    ".def __gort_ffi_callback_frame",
    ".scl 2",
    ".type 32",
    ".endef",
    ".seh_proc __gort_ffi_callback_frame",
    "__gort_ffi_callback_frame:",
    // Entry RSP ≡ 8 (mod 16); the push makes it 0.
    "push rbp",
    ".seh_pushreg rbp",
    "mov rbp, rsp",
    ".seh_setframe rbp, 0",
    // Home space for `dispatch_frame`, then the frame; RSP stays 16-aligned.
    "sub rsp, {alloc}",
    ".seh_stackalloc {alloc}",
    ".seh_endprologue",
    "cld",
    "mov [rsp + {frame} + {gp}], rcx",
    "mov [rsp + {frame} + {gp} + 8], rdx",
    "mov [rsp + {frame} + {gp} + 16], r8",
    "mov [rsp + {frame} + {gp} + 24], r9",
    "movq [rsp + {frame} + {fp}], xmm0",
    "movq [rsp + {frame} + {fp} + 8], xmm1",
    "movq [rsp + {frame} + {fp} + 16], xmm2",
    "movq [rsp + {frame} + {fp} + 24], xmm3",
    // Above the saved RBP: the return address, the caller's home space,
    // then the fifth argument on.
    "lea rax, [rbp + {stack_args}]",
    "mov [rsp + {frame} + {stack}], rax",
    "mov rcx, r10",
    "lea rdx, [rsp + {frame}]",
    "call {dispatch}",
    "mov rax, [rsp + {frame} + {ret_gp}]",
    "movq xmm0, [rsp + {frame} + {ret_fp}]",
    // The epilogue in the form the unwinder recognises.
    "add rsp, {alloc}",
    "pop rbp",
    "ret",
    ".seh_endproc",
    ".text",
    alloc = const ALLOC,
    frame = const FRAME_AT,
    gp = const GP,
    fp = const FP,
    stack = const STACK,
    ret_gp = const RET_GP,
    ret_fp = const RET_FP,
    stack_args = const STACK_ARGS_FROM_RBP,
    dispatch = sym frame_callee,
);

/// The entry of an empty slot, with R10 = its record: abort with a message
/// naming the slot (a tail call: the foreign caller's home space and
/// alignment serve `dangling`).
#[unsafe(naked)]
#[unsafe(link_section = ".text$gortc_m")]
pub unsafe extern "C" fn empty_slot() {
    naked_asm!(
        "lea rax, [rip + {slots}]",
        "mov rcx, r10",
        "sub rcx, rax",
        "shr rcx, {shift}",
        "jmp {dangling}",
        slots = sym SLOTS,
        shift = const SLOT_SIZE.trailing_zeros(),
        dangling = sym dangling,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::Callback;
    use crate::runtime::m::in_callback_text;

    /// A preemption recognises every entry as callback text.
    #[test]
    fn the_entries_are_in_the_callback_text() {
        let last = table_base() + CAPACITY * STUB_SIZE - 1;
        for n in 0..REG_ARGS {
            let shim = register_entry(0, n).unwrap() as usize;
            assert!(in_callback_text(shim), "shim for {n} arguments");
        }
        assert!(register_entry(4, 4).is_none() && register_entry(0, 16).is_none());
        for a in [
            table_base(),
            last,
            frame_entry() as usize,
            empty_slot as *const () as usize,
        ] {
            assert!(in_callback_text(a), "{a:#x}");
        }
        assert!(!in_callback_text(table_len as fn() -> usize as usize));
    }

    /// Positions, not classes: eight mixed arguments through the frame shim
    /// (whose callee scribbles over its home space, see `frame_callee`), and
    /// three through the register shim for R9.
    #[test]
    fn arguments_are_read_by_position() {
        type F8 = extern "C" fn(i32, f64, i8, f32, u64, f64, *const u8, bool) -> f64;
        let cb = Callback::<F8>::new(|a, b, c, d, e, g, h, i| {
            assert_eq!((a, b, c, d), (-5, 1.5, -3, 2.25));
            assert_eq!(
                (e, g, h as usize, i),
                (0xDEAD_BEEF_1234, 100.0, 0xFFFF_0000, true)
            );
            b + d as f64 + g
        })
        .unwrap();
        let f = std::hint::black_box(cb.as_fn());
        assert_eq!(
            f(
                -5,
                1.5,
                -3,
                2.25,
                0xDEAD_BEEF_1234,
                100.0,
                0xFFFF_0000 as *const u8,
                true
            ),
            103.75
        );
        let cb = Callback::<extern "C" fn(f64, f64, f32) -> i64>::new(|a, b, c| {
            (a * 100.0 + b * 10.0 + c as f64) as i64
        })
        .unwrap();
        let f = std::hint::black_box(cb.as_fn());
        assert_eq!(f(3.0, 2.0, 1.0), 321);
    }
}

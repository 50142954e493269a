//! x86-64 System V: the callback table and its common entry.
//!
//! **Stubs.** Stub `i` is `lea r10, [rip + SLOTS + 32 * i]; jmp [r10]`,
//! padded to 16 bytes with `int3`: R10 = slot `i`'s record
//! (`table::Slot`), then a jump to the record's `entry`. R10 is a scratch
//! register that carries no argument and needs no preserving (§3.2.3), as
//! is RAX for a function that is not variadic. Nothing else is touched: the
//! argument registers, the return address and the stack arguments are
//! exactly as the foreign caller left them. (Go's table is a run of `CALL`s
//! into one routine that finds the slot from the return address it pops;
//! that leaves the CPU's return-stack predictor one entry out of step, and
//! the returns up the C caller's stack then mispredict.)
//!
//! The record's `entry` is one of:
//! - a **register shim** (`shim_rdi` … `shim_r9`): when the signature leaves
//!   a general register free (fewer than six integer-class arguments: the
//!   usual case), the shim puts the record in the first free one and jumps to
//!   one of the slot's thunks, Rust functions compiled for the signature
//!   with the record as one more parameter: the compiler itself then reads
//!   the arguments by the ABI, saves the callee-saved registers it uses
//!   (RBX, RBP, R12–R15) and returns the result. (The extra parameter lands
//!   in that register because the ABI assigns general registers to
//!   integer-class arguments in order, whatever the floating-point ones do.)
//!   Nothing is captured that the closure does not read, which is what makes
//!   a callback cheap enough for a `qsort` comparator.
//!
//!   On Linux the shims for up to four integer-class arguments first do, in
//!   asm, what `cgocallback::enter_fast` does for the common case (C called
//!   by a goroutine calls back): read the thread's M (`runtime::tls`), check
//!   that it runs a goroutine that is not in `blocking`, on whose stack we
//!   are with `MIN_HEADROOM` left, and which is not already in a callback;
//!   set the goroutine's mark (`lockint`); then jump to the **fast thunk**
//!   (`Slot::fast`) with the goroutine in the register after the record. It
//!   runs the closure and clears the mark (`cgocallback_marked`). Anything
//!   else jumps to the full thunk (`Slot::thunk`), whose `cgocallback` sorts
//!   it out in Rust. Doing this in the shim rather than in a call from the
//!   thunk saved ~1.5 ns of a ~3.5 ns overhead per call (measured on the
//!   qsort benchmark: 1.20× a plain comparator instead of 1.65×); a shim
//!   that only jumps to the thunk, with no checks at all, measures 1.13×;
//! - the **frame shim** (`callback_frame`), for signatures that use all six
//!   general registers: it saves RBX, RBP and R12–R15, captures RDI RSI RDX
//!   RCX R8 R9, the low 64 bits of XMM0–7 and the address of the stack
//!   arguments into a `Frame`, calls the thunk through `dispatch_frame` to
//!   decode them (`Args`) and store the result, and returns RAX and XMM0
//!   from the frame;
//! - `empty_slot`, which aborts: the slot's `Callback` was dropped.
//!
//! Everything here that runs for a call (the stubs, shims, the frame shim
//! and dispatcher) and the thunks it reaches are in the callback text (the
//! `gort_callback` section; the fast shims in the no-preemption text, which
//! is stricter): a preemption that lands there wires the goroutine to its
//! thread first (`runtime::m::in_callback_text`), since it is inside a
//! callback even where its mark is not set (the stub and full thunk before
//! `cgocallback` sets it, the thunk's last instructions after it clears it).
//!
//! DF is clear at every call (the ABI's rule) and no Rust code sets it, so it
//! is clear when the callback returns; the frame shim clears it on entry
//! anyway. MXCSR and the x87 control word are callee-saved too. No
//! runtime code changes them, and every goroutine switch carries each
//! goroutine's own values (`arch::mcall` saves them, `gogo` restores them),
//! so the callback returns with the caller's values without the entry
//! reading them; reading MXCSR (`STMXCSR`) costs ~4 ns on the AMD EPYC
//! machines here, measured as half of a callback's whole cost. The
//! callee-saved canary tests check all of these across parks, spawns and
//! sleeps. The callback runs with the caller's floating-point control state,
//! as a C callee would.

use core::arch::{global_asm, naked_asm};
use core::mem::offset_of;

use crate::ffi::table::{
    CAPACITY, SLOT_ENTRY, SLOT_FAST, SLOT_SIZE, SLOT_THUNK, SLOTS, Slot, dangling,
};
#[cfg(target_os = "linux")]
use crate::runtime::{g::G, m::M, sched::cgocallback::MIN_HEADROOM, stack::Stack, tls::tls_load_m};
use core::sync::atomic::Ordering;

/// Bytes per entry stub.
pub const STUB_SIZE: usize = 16;

/// What `callback_frame` captures for the dispatcher, and the result it
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
}

const GP: usize = offset_of!(Frame, gp);
const FP: usize = offset_of!(Frame, fp);
const STACK: usize = offset_of!(Frame, stack);
const RET_GP: usize = offset_of!(Frame, ret_gp);
const RET_FP: usize = offset_of!(Frame, ret_fp);
const _: () = assert!(GP == 0 && FP == 48 && STACK == 112 && RET_GP == 120 && RET_FP == 128);
const _: () = assert!(size_of::<Frame>() == 136);
/// Stack reserved below the six saved registers: the frame. Entry RSP ≡ 8
/// (mod 16) (the return address); six pushes keep that; this makes it 0 for
/// the call to `dispatch`.
const ALLOC: usize = size_of::<Frame>();
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
    // In the callback text (see `runtime::m::in_callback_text`).
    ".pushsection gort_callback,\"ax\",@progbits",
    ".p2align 4, 0xcc",
    ".globl __gort_ffi_table",
    ".hidden __gort_ffi_table",
    "__gort_ffi_table:",
    ".set __gort_ffi_slot, 0",
    ".rept {n}",
    "leaq {slots}+(__gort_ffi_slot*{size})(%rip), %r10",
    "jmpq *{entry}(%r10)",
    ".p2align 4, 0xcc",
    ".set __gort_ffi_slot, __gort_ffi_slot + 1",
    ".endr",
    ".globl __gort_ffi_table_end",
    ".hidden __gort_ffi_table_end",
    "__gort_ffi_table_end:",
    ".popsection",
    n = const CAPACITY,
    slots = sym SLOTS,
    size = const SLOT_SIZE,
    entry = const SLOT_ENTRY,
    options(att_syntax)
);

const _: () = assert!(SLOT_SIZE.is_power_of_two());

/// Register shims that leave everything to the thunk: the record (R10)
/// into `$reg`, then the thunk. All of them off Linux (no thread-local word
/// the asm could read to find the goroutine, see `runtime::tls`), and the
/// one for five integer-class arguments everywhere (it has no second
/// register for the fast thunk's goroutine).
macro_rules! plain_shims {
    ($($name:ident: $reg:literal),*) => {$(
        #[unsafe(naked)]
        #[cfg_attr(target_os = "linux", unsafe(link_section = "gort_callback"))]
        #[cfg_attr(windows, unsafe(link_section = ".text$gortc_m"))]
        unsafe extern "C" fn $name() {
            naked_asm!(
                concat!("mov ", $reg, ", r10"),
                "jmp qword ptr [r10 + {thunk}]",
                thunk = const SLOT_THUNK,
            )
        }
    )*};
}

#[cfg(not(target_os = "linux"))]
plain_shims!(shim_rdi: "rdi", shim_rsi: "rsi", shim_rdx: "rdx", shim_rcx: "rcx", shim_r8: "r8");
plain_shims!(shim_r9: "r9");

/// Register shims on Linux, with R10 = the slot's record: `enter_fast`'s
/// test and mark in asm (see the module comment), then the record into
/// `$reg`, the goroutine into `$greg` (the next general register) and a
/// jump to the fast thunk, `extern "C" fn(A1, …, An, *const Slot, *mut ())`,
/// which runs the closure and clears the mark; else the record into `$reg`
/// and a jump to the thunk (`cgocallback`'s Rust path: a goroutine in
/// `blocking`, a thread without one, a callback nested in another).
/// Besides those two, only R11 and RAX are written: scratch, and carrying
/// no argument (RAX only carries one into a variadic function).
///
/// In the no-preemption text: between reading the thread's M and setting
/// the goroutine's mark, a preemption that resumed the goroutine on another
/// thread would leave it marking through the old thread's M (as in
/// `enter_fast`). The thunks it jumps to are ordinary, preemptible code.
#[cfg(target_os = "linux")]
macro_rules! fast_shims {
    ($($name:ident: $reg:literal, $greg:literal);*) => {$(
        #[unsafe(naked)]
        #[unsafe(link_section = "gort_nopreempt")]
        unsafe extern "C" fn $name() {
            naked_asm!(
                tls_load_m!("r11"),
                "test r11, r11",
                "jz 2f",
                "cmp byte ptr [r11 + {m_in_syscall}], 0",
                "jne 2f",
                "mov r11, qword ptr [r11 + {m_curg}]",
                "test r11, r11",
                "jz 2f",
                // On the goroutine's own stack, with the headroom (RSP is
                // far above `headroom`: the low pages are never mapped).
                "lea rax, [rsp - {headroom}]",
                "cmp rax, qword ptr [r11 + {g_stack_lo}]",
                "jb 2f",
                "cmp rsp, qword ptr [r11 + {g_stack_hi}]",
                "jae 2f",
                // The outermost callback on this goroutine: mark it.
                "cmp byte ptr [r11 + {g_lockint}], 0",
                "jne 2f",
                "mov byte ptr [r11 + {g_lockint}], 1",
                concat!("mov ", $reg, ", r10"),
                concat!("mov ", $greg, ", r11"),
                "jmp qword ptr [r10 + {fast}]",
                "2:",
                concat!("mov ", $reg, ", r10"),
                "jmp qword ptr [r10 + {thunk}]",
                m_in_syscall = const offset_of!(M, in_syscall),
                m_curg = const offset_of!(M, curg),
                g_stack_lo = const offset_of!(G, stack) + offset_of!(Stack, lo),
                g_stack_hi = const offset_of!(G, stack) + offset_of!(Stack, hi),
                g_lockint = const offset_of!(G, lockint),
                headroom = const MIN_HEADROOM,
                fast = const SLOT_FAST,
                thunk = const SLOT_THUNK,
            )
        }
    )*};
}

#[cfg(target_os = "linux")]
fast_shims!(shim_rdi: "rdi", "rsi"; shim_rsi: "rsi", "rdx"; shim_rdx: "rdx", "rcx"; shim_rcx: "rcx", "r8"; shim_r8: "r8", "r9");

/// The register shims in the no-preemption text (a test checks they are).
#[cfg(all(test, target_os = "linux"))]
pub fn fast_entries() -> [usize; 5] {
    let shims: [unsafe extern "C" fn(); 5] = [shim_rdi, shim_rsi, shim_rdx, shim_rcx, shim_r8];
    shims.map(|f| f as usize)
}

/// The entry for a signature with `ints` integer-class arguments (of
/// `args` in all: classes, not positions, decide here) whose thunks take the
/// slot record (and the fast thunk the goroutine) as more: `None` unless the
/// record goes in a general register; then the frame shim is used.
pub fn register_entry(ints: usize, _args: usize) -> Option<*const u8> {
    let shim: unsafe extern "C" fn() = match ints {
        0 => shim_rdi,
        1 => shim_rsi,
        2 => shim_rdx,
        3 => shim_rcx,
        4 => shim_r8,
        5 => shim_r9,
        _ => return None,
    };
    Some(shim as *const u8)
}

/// The entry for signatures decoded from a `Frame`.
pub fn frame_entry() -> *const u8 {
    callback_frame as *const u8
}

/// What a frame-path thunk is: reads its arguments from the frame, runs the
/// closure `data`, stores the result in the frame.
pub type FrameThunk = unsafe fn(data: *mut (), frame: *mut Frame);

/// Called by `callback_frame` with the slot's record.
///
/// # Safety
/// `rec` is a published record whose thunk is a `FrameThunk`; `frame` is
/// filled for this call.
#[cfg_attr(target_os = "linux", unsafe(link_section = "gort_callback"))]
#[cfg_attr(windows, unsafe(link_section = ".text$gortc_m"))]
unsafe extern "C" fn dispatch_frame(rec: *const Slot, frame: *mut Frame) {
    // SAFETY: per the contract.
    unsafe {
        let thunk = (*rec).thunk.load(Ordering::Relaxed);
        let thunk = core::mem::transmute::<*mut u8, FrameThunk>(thunk);
        thunk((*rec).data.load(Ordering::Relaxed), frame)
    }
}

/// The frame shim (see the module comment), with R10 = the slot's record.
#[unsafe(naked)]
#[cfg_attr(target_os = "linux", unsafe(link_section = "gort_callback"))]
#[cfg_attr(windows, unsafe(link_section = ".text$gortc_m"))]
unsafe extern "C" fn callback_frame() {
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
        "mov rdi, r10",
        "mov rsi, rsp",
        "call {dispatch}",
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
        ret_gp = const RET_GP,
        ret_fp = const RET_FP,
        dispatch = sym dispatch_frame,
    )
}

/// The entry of an empty slot, with R10 = its record: abort with a message
/// naming the slot.
#[unsafe(naked)]
#[cfg_attr(target_os = "linux", unsafe(link_section = "gort_callback"))]
#[cfg_attr(windows, unsafe(link_section = ".text$gortc_m"))]
pub unsafe extern "C" fn empty_slot() {
    naked_asm!(
        "lea rax, [rip + {slots}]",
        "mov rdi, r10",
        "sub rdi, rax",
        "shr rdi, {shift}",
        "jmp {dangling}",
        slots = sym SLOTS,
        shift = const SLOT_SIZE.trailing_zeros(),
        dangling = sym dangling,
    )
}

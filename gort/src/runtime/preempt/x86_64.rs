//! x86-64 async-preemption trampoline and the context rewrite that enters it.
//!
//! The interrupt (the SIGURG handler on Unix, sysmon with the thread suspended
//! on Windows) makes the interrupted goroutine "call" `async_preempt`
//! (`inject`): it stores the interrupted PC 8 bytes below the interrupted RSP,
//! after skipping the System V red zone (128 bytes a leaf function may be
//! using; Win64 has none), points RSP at it and RIP at the trampoline. When
//! the thread resumes, the kernel restores every register, so the trampoline starts with the exact
//! register and flag state of the interrupted code. It saves all of it on the
//! goroutine's stack — 15 GPRs, RFLAGS, and the full extended state with XSAVE
//! (area sized by CPUID for the components this OS enabled in XCR0, AVX and
//! AVX-512 included; AMX tiles excluded, see `init`) — calls `async_preempt2`
//! (which parks the goroutine and returns when it is scheduled again), restores
//! everything and returns with `ret 128` (`ret` on Windows), popping the
//! interrupted PC and skipping the red zone: RSP is back where it was. On
//! Windows the call reserves the 32-byte shadow space.

use core::arch::naked_asm;
use core::sync::atomic::{AtomicU32, Ordering};

/// XSAVE components saved: XCR0 minus AMX (bits 17, 18), whose 8 KiB of tile
/// data would not fit on a small goroutine stack; Rust code does not use AMX
/// without asking the kernel first.
static XSAVE_MASK_LO: AtomicU32 = AtomicU32::new(0);
static XSAVE_MASK_HI: AtomicU32 = AtomicU32::new(0);
/// Bytes to reserve for the save area (0: no XSAVE, use FXSAVE's 512).
static XSAVE_SIZE: AtomicU32 = AtomicU32::new(0);
/// Set when the CPU and OS support XSAVE.
static USE_XSAVE: AtomicU32 = AtomicU32::new(0);

/// Sizes the save area. Called once at runtime start, before any SIGURG.
pub(crate) fn init() {
    use core::arch::x86_64::{__cpuid, __cpuid_count};
    // SAFETY: CPUID is always available on x86-64; XGETBV only when OSXSAVE.
    unsafe {
        let leaf1 = __cpuid(1);
        let osxsave = leaf1.ecx & (1 << 27) != 0;
        if !osxsave {
            XSAVE_SIZE.store(512, Ordering::Relaxed);
            return;
        }
        let xcr0 = core::arch::x86_64::_xgetbv(0);
        let mask = xcr0 & !((1 << 17) | (1 << 18));
        // Standard (non-compacted) format: legacy 512 + header 64, then each
        // component at the offset CPUID reports.
        let mut size = 576u32;
        for i in 2..63 {
            if mask & (1 << i) != 0 {
                let c = __cpuid_count(0xD, i);
                size = size.max(c.ebx + c.eax);
            }
        }
        XSAVE_MASK_LO.store(mask as u32, Ordering::Relaxed);
        XSAVE_MASK_HI.store((mask >> 32) as u32, Ordering::Relaxed);
        XSAVE_SIZE.store(size, Ordering::Relaxed);
        USE_XSAVE.store(1, Ordering::Relaxed);
    }
}

/// Stack the trampoline needs below the red zone: registers, the save area and
/// its alignment, and the Rust code it calls (`async_preempt2` → `mcall`).
pub(crate) fn headroom() -> usize {
    128 + 8 + 16 * 8 + XSAVE_SIZE.load(Ordering::Relaxed) as usize + 64 + 4096
}

/// Bytes below the interrupted RSP that the interrupted code may be using
/// without having moved RSP: System V's red zone; Win64 has none.
#[cfg(not(windows))]
pub(crate) const RED_ZONE: usize = 128;
#[cfg(windows)]
pub(crate) const RED_ZONE: usize = 0;

/// Makes an interrupted context at (`pc`, `sp`) "call" `async_preempt`:
/// stores `pc` as the return address below the red zone and returns the new
/// (PC, SP) to resume the context with.
///
/// # Safety
/// `sp` is the interrupted SP, with at least `headroom()` bytes of its own
/// stack below it that nothing uses.
pub(crate) unsafe fn inject(pc: usize, sp: usize) -> (usize, usize) {
    let sp = sp - RED_ZONE - 8;
    // SAFETY: per the contract: the slot is below the red zone, in the stack.
    unsafe { (sp as *mut usize).write(pc) };
    (async_preempt as *const () as usize, sp)
}

/// The trampoline's call of `async_preempt2`: Win64 requires 32 bytes of
/// shadow space above the return address; System V none.
#[cfg(not(windows))]
macro_rules! call_preempt2 {
    () => {
        "call {preempt2}"
    };
}
#[cfg(windows)]
macro_rules! call_preempt2 {
    () => {
        "sub rsp, 32\ncall {preempt2}\nadd rsp, 32"
    };
}

/// The trampoline's return: pops the interrupted PC, then skips the red zone.
#[cfg(not(windows))]
macro_rules! ret_interrupted {
    () => {
        "ret 128"
    };
}
#[cfg(windows)]
macro_rules! ret_interrupted {
    () => {
        "ret"
    };
}

/// Entered (never called) from a rewritten context (`inject`): `[rsp]` holds
/// the interrupted PC, the `RED_ZONE` bytes above it are the interrupted red
/// zone.
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn async_preempt() {
    naked_asm!(
        "pushfq",
        "push rax",
        "push rcx",
        "push rdx",
        "push rbx",
        "push rbp",
        "push rsi",
        "push rdi",
        "push r8",
        "push r9",
        "push r10",
        "push r11",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        // The ABI requires DF = 0 at calls; the interrupted code's DF is in the
        // saved RFLAGS.
        "cld",
        // RBX (saved above, callee-saved below) keeps the register block's address.
        "mov rbx, rsp",
        "mov eax, dword ptr [rip + {size}]",
        "sub rsp, rax",
        "and rsp, -64",
        "cmp dword ptr [rip + {use_xsave}], 0",
        "je 2f",
        // XRSTOR faults unless the header's reserved bytes are zero; stack memory
        // is garbage, so clear the 64-byte header (XSAVE writes only XSTATE_BV).
        "xor eax, eax",
        "mov [rsp + 512], rax",
        "mov [rsp + 520], rax",
        "mov [rsp + 528], rax",
        "mov [rsp + 536], rax",
        "mov [rsp + 544], rax",
        "mov [rsp + 552], rax",
        "mov [rsp + 560], rax",
        "mov [rsp + 568], rax",
        "mov eax, dword ptr [rip + {lo}]",
        "mov edx, dword ptr [rip + {hi}]",
        "xsave64 [rsp]",
        call_preempt2!(),
        "mov eax, dword ptr [rip + {lo}]",
        "mov edx, dword ptr [rip + {hi}]",
        "xrstor64 [rsp]",
        "jmp 3f",
        "2:",
        "fxsave64 [rsp]",
        call_preempt2!(),
        "fxrstor64 [rsp]",
        "3:",
        "mov rsp, rbx",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop r11",
        "pop r10",
        "pop r9",
        "pop r8",
        "pop rdi",
        "pop rsi",
        "pop rbp",
        "pop rbx",
        "pop rdx",
        "pop rcx",
        "pop rax",
        "popfq",
        // Pop the interrupted PC and skip the red zone.
        ret_interrupted!(),
        size = sym XSAVE_SIZE,
        use_xsave = sym USE_XSAVE,
        lo = sym XSAVE_MASK_LO,
        hi = sym XSAVE_MASK_HI,
        preempt2 = sym super::async_preempt2,
    )
}

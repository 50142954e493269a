//! The System V caller: canaries in RBX RBP R12–R15, MXCSR, x87 CW.

use std::arch::naked_asm;

/// MXCSR with round-toward-zero (RC=11) and all exceptions masked.
const MXCSR_CANARY: u32 = 0x7F80;
/// x87 control word with 53-bit precision (PC=10) and round-up (RC=10).
const X87_CANARY: u16 = 0x0A7F;

/// Calls `f()` with canaries in RBX RBP R12–R15, MXCSR and the x87 control word;
/// returns a bit mask of which ones differed afterwards (0 = all preserved).
#[unsafe(naked)]
pub extern "C" fn call_with_canaries(f: extern "C" fn()) -> u64 {
    naked_asm!(
        "push rbx", "push rbp", "push r12", "push r13", "push r14", "push r15",
        // 6 pushes after the return address: RSP ≡ 0 mod 16 - 8 ... reserve 24 to align
        // and to hold the caller's MXCSR/CW [rsp], [rsp+4] and scratch [rsp+8..].
        "sub rsp, 24",
        "stmxcsr [rsp]",
        "fnstcw [rsp + 4]",
        "mov dword ptr [rsp + 8], {mxcsr}",
        "ldmxcsr [rsp + 8]",
        "mov word ptr [rsp + 12], {x87}",
        "fldcw [rsp + 12]",
        "movabs rbx, 0x1111111111111111",
        "movabs rbp, 0x2222222222222222",
        "movabs r12, 0x3333333333333333",
        "movabs r13, 0x4444444444444444",
        "movabs r14, 0x5555555555555555",
        "movabs r15, 0x6666666666666666",
        "call rdi",
        "xor eax, eax",
        "movabs rcx, 0x1111111111111111", "cmp rbx, rcx", "je 2f", "or rax, 1", "2:",
        "movabs rcx, 0x2222222222222222", "cmp rbp, rcx", "je 2f", "or rax, 2", "2:",
        "movabs rcx, 0x3333333333333333", "cmp r12, rcx", "je 2f", "or rax, 4", "2:",
        "movabs rcx, 0x4444444444444444", "cmp r13, rcx", "je 2f", "or rax, 8", "2:",
        "movabs rcx, 0x5555555555555555", "cmp r14, rcx", "je 2f", "or rax, 16", "2:",
        "movabs rcx, 0x6666666666666666", "cmp r15, rcx", "je 2f", "or rax, 32", "2:",
        "stmxcsr [rsp + 8]",
        // Compare only the control bits (exception flags 0-5 may be set by f).
        "mov ecx, [rsp + 8]", "and ecx, 0xFFC0", "cmp ecx, {mxcsr}", "je 2f", "or rax, 64", "2:",
        "fnstcw [rsp + 12]",
        "movzx ecx, word ptr [rsp + 12]", "cmp ecx, {x87}", "je 2f", "or rax, 128", "2:",
        // Restore the caller's MXCSR/CW and registers.
        "ldmxcsr [rsp]",
        "fldcw [rsp + 4]",
        "add rsp, 24",
        "pop r15", "pop r14", "pop r13", "pop r12", "pop rbp", "pop rbx",
        "ret",
        mxcsr = const MXCSR_CANARY,
        x87 = const X87_CANARY,
    )
}

//! The Win64 caller: canaries in RBX RBP RDI RSI R12–R15, both halves of
//! XMM6–XMM15, MXCSR and the x87 control word.

use std::arch::naked_asm;

/// MXCSR with round-toward-zero (RC=11) and all exceptions masked.
const MXCSR_CANARY: u32 = 0x7F80;
/// x87 control word with 64-bit precision (PC=11; Windows' default is 53-bit)
/// and round-up (RC=10).
const X87_CANARY: u16 = 0x0B7F;

/// Loads `lo`/`hi` into the two halves of XMM`n` (clobbers RAX).
macro_rules! set_xmm {
    ($n:literal, $lo:literal, $hi:literal) => {
        concat!(
            "movabs rax, ",
            $lo,
            "\n",
            "movq xmm",
            $n,
            ", rax\n",
            "movabs rax, ",
            $hi,
            "\n",
            "pinsrq xmm",
            $n,
            ", rax, 1\n",
        )
    };
}

/// Sets bit `$bit` of RAX unless XMM`n` holds `lo`/`hi` (clobbers RCX, RDX).
macro_rules! check_xmm {
    ($n:literal, $lo:literal, $hi:literal, $bit:literal) => {
        concat!(
            "movq rcx, xmm",
            $n,
            "\n",
            "movabs rdx, ",
            $lo,
            "\n",
            "cmp rcx, rdx\n",
            "jne 4f\n",
            "pextrq rcx, xmm",
            $n,
            ", 1\n",
            "movabs rdx, ",
            $hi,
            "\n",
            "cmp rcx, rdx\n",
            "je 5f\n",
            "4:\n",
            "bts rax, ",
            $bit,
            "\n",
            "5:\n",
        )
    };
}

/// Calls `f()` with canaries in every Win64 callee-saved register; returns a
/// bit mask of which ones differed afterwards (0 = all preserved): bits 0–7
/// RBX RBP RDI RSI R12–R15, 8–17 XMM6–XMM15, 18 MXCSR, 19 x87 CW.
#[unsafe(naked)]
pub extern "C" fn call_with_canaries(f: extern "C" fn()) -> u64 {
    naked_asm!(
        "push rbx", "push rbp", "push rdi", "push rsi",
        "push r12", "push r13", "push r14", "push r15",
        // Eight pushes after the return address: RSP ≡ 8 (mod 16). 216 bytes:
        // the caller's XMM6–15 at [rsp+48..208), its MXCSR/CW at [rsp+32],
        // [rsp+36], scratch at [rsp+40..48), 32 bytes of shadow space at
        // [rsp..32) for f, and 8 to align.
        "sub rsp, 216",
        "movups [rsp + 48], xmm6", "movups [rsp + 64], xmm7",
        "movups [rsp + 80], xmm8", "movups [rsp + 96], xmm9",
        "movups [rsp + 112], xmm10", "movups [rsp + 128], xmm11",
        "movups [rsp + 144], xmm12", "movups [rsp + 160], xmm13",
        "movups [rsp + 176], xmm14", "movups [rsp + 192], xmm15",
        "stmxcsr [rsp + 32]",
        "fnstcw [rsp + 36]",
        "mov dword ptr [rsp + 40], {mxcsr}",
        "ldmxcsr [rsp + 40]",
        "mov word ptr [rsp + 44], {x87}",
        "fldcw [rsp + 44]",
        "mov r8, rcx",
        set_xmm!("6", "0x0606060606060601", "0x0606060606060602"),
        set_xmm!("7", "0x0707070707070701", "0x0707070707070702"),
        set_xmm!("8", "0x0808080808080801", "0x0808080808080802"),
        set_xmm!("9", "0x0909090909090901", "0x0909090909090902"),
        set_xmm!("10", "0x0a0a0a0a0a0a0a01", "0x0a0a0a0a0a0a0a02"),
        set_xmm!("11", "0x0b0b0b0b0b0b0b01", "0x0b0b0b0b0b0b0b02"),
        set_xmm!("12", "0x0c0c0c0c0c0c0c01", "0x0c0c0c0c0c0c0c02"),
        set_xmm!("13", "0x0d0d0d0d0d0d0d01", "0x0d0d0d0d0d0d0d02"),
        set_xmm!("14", "0x0e0e0e0e0e0e0e01", "0x0e0e0e0e0e0e0e02"),
        set_xmm!("15", "0x0f0f0f0f0f0f0f01", "0x0f0f0f0f0f0f0f02"),
        "movabs rbx, 0x1111111111111111",
        "movabs rbp, 0x2222222222222222",
        "movabs rdi, 0x7777777777777777",
        "movabs rsi, 0x8888888888888888",
        "movabs r12, 0x3333333333333333",
        "movabs r13, 0x4444444444444444",
        "movabs r14, 0x5555555555555555",
        "movabs r15, 0x6666666666666666",
        "call r8",
        "xor eax, eax",
        "movabs rcx, 0x1111111111111111", "cmp rbx, rcx", "je 2f", "or rax, 1", "2:",
        "movabs rcx, 0x2222222222222222", "cmp rbp, rcx", "je 2f", "or rax, 2", "2:",
        "movabs rcx, 0x7777777777777777", "cmp rdi, rcx", "je 2f", "or rax, 4", "2:",
        "movabs rcx, 0x8888888888888888", "cmp rsi, rcx", "je 2f", "or rax, 8", "2:",
        "movabs rcx, 0x3333333333333333", "cmp r12, rcx", "je 2f", "or rax, 16", "2:",
        "movabs rcx, 0x4444444444444444", "cmp r13, rcx", "je 2f", "or rax, 32", "2:",
        "movabs rcx, 0x5555555555555555", "cmp r14, rcx", "je 2f", "or rax, 64", "2:",
        "movabs rcx, 0x6666666666666666", "cmp r15, rcx", "je 2f", "or rax, 128", "2:",
        check_xmm!("6", "0x0606060606060601", "0x0606060606060602", "8"),
        check_xmm!("7", "0x0707070707070701", "0x0707070707070702", "9"),
        check_xmm!("8", "0x0808080808080801", "0x0808080808080802", "10"),
        check_xmm!("9", "0x0909090909090901", "0x0909090909090902", "11"),
        check_xmm!("10", "0x0a0a0a0a0a0a0a01", "0x0a0a0a0a0a0a0a02", "12"),
        check_xmm!("11", "0x0b0b0b0b0b0b0b01", "0x0b0b0b0b0b0b0b02", "13"),
        check_xmm!("12", "0x0c0c0c0c0c0c0c01", "0x0c0c0c0c0c0c0c02", "14"),
        check_xmm!("13", "0x0d0d0d0d0d0d0d01", "0x0d0d0d0d0d0d0d02", "15"),
        check_xmm!("14", "0x0e0e0e0e0e0e0e01", "0x0e0e0e0e0e0e0e02", "16"),
        check_xmm!("15", "0x0f0f0f0f0f0f0f01", "0x0f0f0f0f0f0f0f02", "17"),
        "stmxcsr [rsp + 40]",
        // Compare only the control bits (exception flags 0-5 may be set by f).
        "mov ecx, [rsp + 40]", "and ecx, 0xFFC0", "cmp ecx, {mxcsr}", "je 2f", "bts rax, 18", "2:",
        "fnstcw [rsp + 44]",
        "movzx ecx, word ptr [rsp + 44]", "cmp ecx, {x87}", "je 2f", "bts rax, 19", "2:",
        // Restore the caller's state.
        "ldmxcsr [rsp + 32]",
        "fldcw [rsp + 36]",
        "movups xmm6, [rsp + 48]", "movups xmm7, [rsp + 64]",
        "movups xmm8, [rsp + 80]", "movups xmm9, [rsp + 96]",
        "movups xmm10, [rsp + 112]", "movups xmm11, [rsp + 128]",
        "movups xmm12, [rsp + 144]", "movups xmm13, [rsp + 160]",
        "movups xmm14, [rsp + 176]", "movups xmm15, [rsp + 192]",
        "add rsp, 216",
        "pop r15", "pop r14", "pop r13", "pop r12",
        "pop rsi", "pop rdi", "pop rbp", "pop rbx",
        "ret",
        mxcsr = const MXCSR_CANARY,
        x87 = const X87_CANARY,
    )
}

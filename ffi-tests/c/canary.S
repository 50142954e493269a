/* uint64_t canary_call(void (*fn)(void));
 *
 * Saves the caller's callee-saved state, loads canaries into RBX RBP R12-R15,
 * MXCSR (0x7F80: round toward zero, every exception masked) and the x87 control
 * word (0x027F: 53-bit precision), calls fn, and returns a bit mask of what fn
 * failed to preserve (0 = everything):
 *   bit 0 RBX, 1 RBP, 2 R12, 3 R13, 4 R14, 5 R15,
 *   bit 6 MXCSR control bits (7-15; the sticky exception flags 0-5 may change),
 *   bit 7 x87 control word, bit 8 DF set on return, bit 9 RSP moved.
 * The caller's own registers, MXCSR and x87 control word are restored before
 * returning. */

        .intel_syntax noprefix
        .text
        .globl  canary_call
        .type   canary_call, @function
        .p2align 4
canary_call:
        .cfi_startproc
        push    rbx
        .cfi_adjust_cfa_offset 8
        push    rbp
        .cfi_adjust_cfa_offset 8
        push    r12
        .cfi_adjust_cfa_offset 8
        push    r13
        .cfi_adjust_cfa_offset 8
        push    r14
        .cfi_adjust_cfa_offset 8
        push    r15
        .cfi_adjust_cfa_offset 8
        /* 8 (return address) + 48 (pushes) + 40 = 96: RSP is 16-aligned at the call.
         * [rsp] caller MXCSR, [rsp+4] caller x87 CW, [rsp+8] scratch MXCSR,
         * [rsp+12] scratch CW, [rsp+16] RSP before the call. */
        sub     rsp, 40
        .cfi_adjust_cfa_offset 40
        stmxcsr dword ptr [rsp]
        fnstcw  word ptr [rsp + 4]
        mov     dword ptr [rsp + 8], 0x7F80
        ldmxcsr dword ptr [rsp + 8]
        mov     word ptr [rsp + 12], 0x027F
        fldcw   word ptr [rsp + 12]
        mov     qword ptr [rsp + 16], rsp
        movabs  rbx, 0x1111111111111111
        movabs  rbp, 0x2222222222222222
        movabs  r12, 0x3333333333333333
        movabs  r13, 0x4444444444444444
        movabs  r14, 0x5555555555555555
        movabs  r15, 0x6666666666666666
        call    rdi
        xor     eax, eax
        movabs  rcx, 0x1111111111111111
        cmp     rbx, rcx
        je      1f
        or      rax, 1
1:      movabs  rcx, 0x2222222222222222
        cmp     rbp, rcx
        je      1f
        or      rax, 2
1:      movabs  rcx, 0x3333333333333333
        cmp     r12, rcx
        je      1f
        or      rax, 4
1:      movabs  rcx, 0x4444444444444444
        cmp     r13, rcx
        je      1f
        or      rax, 8
1:      movabs  rcx, 0x5555555555555555
        cmp     r14, rcx
        je      1f
        or      rax, 16
1:      movabs  rcx, 0x6666666666666666
        cmp     r15, rcx
        je      1f
        or      rax, 32
1:      pushfq
        pop     rcx
        test    ecx, 0x400
        jz      1f
        or      rax, 256
        cld
1:      cmp     qword ptr [rsp + 16], rsp
        je      1f
        or      rax, 512
1:      stmxcsr dword ptr [rsp + 8]
        mov     ecx, dword ptr [rsp + 8]
        and     ecx, 0xFFC0
        cmp     ecx, 0x7F80
        je      1f
        or      rax, 64
1:      fnstcw  word ptr [rsp + 12]
        movzx   ecx, word ptr [rsp + 12]
        /* bits 6 and 13-15 of the control word are reserved: compare the rest */
        and     ecx, 0x1F3F
        cmp     ecx, 0x023F
        je      1f
        or      rax, 128
1:      ldmxcsr dword ptr [rsp]
        fldcw   word ptr [rsp + 4]
        add     rsp, 40
        .cfi_adjust_cfa_offset -40
        pop     r15
        .cfi_adjust_cfa_offset -8
        pop     r14
        .cfi_adjust_cfa_offset -8
        pop     r13
        .cfi_adjust_cfa_offset -8
        pop     r12
        .cfi_adjust_cfa_offset -8
        pop     rbp
        .cfi_adjust_cfa_offset -8
        pop     rbx
        .cfi_adjust_cfa_offset -8
        ret
        .cfi_endproc
        .size   canary_call, . - canary_call

        .section .note.GNU-stack, "", @progbits

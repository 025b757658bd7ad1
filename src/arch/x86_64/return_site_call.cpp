#include "arch/x86_64/return_site_call.hpp"

// Stack at fn's entry: [ret_byte][back here], 8 bytes off 16-byte alignment as after a call. fn
// returns to ret_byte, whose ret pops "back here". rbp is callee-saved, so it still frames us.
asm(R"(
        .text
        .globl  hp_call_returning_through
        .hidden hp_call_returning_through
        .type   hp_call_returning_through, @function
hp_call_returning_through:
        .cfi_startproc
        endbr64
        push    %rbp
        .cfi_def_cfa_offset 16
        .cfi_offset %rbp, -16
        mov     %rsp, %rbp
        .cfi_def_cfa_register %rbp
        and     $-16, %rsp
        sub     $8, %rsp
        mov     %rdi, %rax
        mov     %rsi, %rdi
        mov     %edx, %esi
        lea     1f(%rip), %r11
        push    %r11
        push    %rcx
        jmp     *%rax
1:
        mov     %rbp, %rsp
        pop     %rbp
        .cfi_def_cfa %rsp, 8
        ret
        .cfi_endproc
        .size   hp_call_returning_through, .-hp_call_returning_through
)");

/* The code hotpatch attach copies into the process: the entry of a thread of its own that loads
   the runtime, so the borrowed thread only has to start it. Position independent; everything it
   uses comes through the block its argument points at (attach/loader_stub.hpp has its layout). */
        .text
        .globl  hp_loader_stub_begin
        .globl  hp_loader_stub_end
        .hidden hp_loader_stub_begin
        .hidden hp_loader_stub_end
hp_loader_stub_begin:
        endbr64
        push    %rbx
        mov     %rdi, %rbx
        call    *0(%rbx)                /* pthread_self */
        mov     %rax, %rdi
        call    *8(%rbx)                /* pthread_detach: nobody joins this thread */
        mov     $186, %eax              /* gettid: the tool waits for this thread to be gone */
        syscall
        mov     %rax, 56(%rbx)
        lea     72(%rbx), %rdi
        mov     $2, %esi                /* RTLD_NOW */
        call    *16(%rbx)               /* dlopen */
        test    %rax, %rax
        jz      2f
        mov     %rax, %rdi
        lea     1096(%rbx), %rsi
        call    *24(%rbx)               /* dlsym(handle, "hotpatch_attach_start") */
        test    %rax, %rax
        jz      3f
        lea     2184(%rbx), %rdi
        call    *%rax                   /* hotpatch_attach_start(config) */
        mov     %rax, 64(%rbx)
        movq    $1, 48(%rbx)
        jmp     4f
2:      call    *32(%rbx)               /* dlerror: copied, it is freed with this thread */
        test    %rax, %rax
        jz      5f
        lea     1160(%rbx), %rdi
        mov     $1023, %ecx
6:      movb    (%rax), %dl
        movb    %dl, (%rdi)
        test    %dl, %dl
        jz      5f
        inc     %rax
        inc     %rdi
        dec     %ecx
        jnz     6b
        movb    $0, (%rdi)
5:      movq    $2, 48(%rbx)
        jmp     4f
3:      movq    $3, 48(%rbx)
4:      pop     %rbx
        xor     %eax, %eax
        ret
hp_loader_stub_end:
        .section .note.GNU-stack,"",@progbits

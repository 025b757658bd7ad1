/* A dynamically linked program that loads no libc at all: the loader maps it, and it sleeps in
 * raw system calls. hotpatch attach must say it has no glibc to load the runtime with. */
__asm__(
    ".text\n"
    ".globl _start\n"
    "_start:\n"
    "  sub $24, %rsp\n"
    "  movq $1, (%rsp)\n"   /* tv_sec */
    "  movq $0, 8(%rsp)\n"  /* tv_nsec */
    "1:\n"
    "  mov $35, %eax\n"     /* nanosleep */
    "  mov %rsp, %rdi\n"
    "  xor %esi, %esi\n"
    "  syscall\n"
    "  jmp 1b\n");

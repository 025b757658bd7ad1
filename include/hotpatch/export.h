/* Marks the functions libhotpatch exports; everything else in the library is hidden. */
#ifndef HOTPATCH_EXPORT_H
#define HOTPATCH_EXPORT_H
#if defined(__GNUC__)
#define HOTPATCH_API __attribute__((visibility("default")))
#else
#define HOTPATCH_API
#endif
#endif

/* arena.h: a bump allocator; one per compile and per apply, freed at once. */
#ifndef PARTMIG_ARENA_H
#define PARTMIG_ARENA_H

#include <stddef.h>

typedef struct ArenaBlock ArenaBlock;
typedef struct Arena {
    ArenaBlock *head;
} Arena;

/* Zeroed memory owned by the arena; aborts on out-of-memory (a CLI tool has
 * nothing better to do, and no caller has to check). */
void *arena_alloc(Arena *a, size_t size);
char *arena_strdup(Arena *a, const char *s); /* NULL stays NULL */
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_printf(Arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Grow an arena array: returns a copy of OLD (n elements of size) with room for cap. */
void *arena_grow(Arena *a, void *old, size_t n, size_t cap, size_t size);
void arena_free(Arena *a);

#endif


/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * Pending deliveries: their memory, and when each is looked at next.  The
 * retry layer owns them and says what they mean; here they are slots in
 * blocks, and nodes of one tree of dues under one nginx timer.
 */


#include "ngx_http_postmark_retry.h"


/*
 * Pending deliveries live in blocks of 64 KB, a free list in each: a
 * backlog of a million events costs about 120 MB of the worker's memory,
 * and a block goes back once it is empty.  Blocks are mapped on their
 * own, aligned to their size (a slot finds its block by its address):
 * malloc()'s aligned allocations of this size leave gaps it rarely
 * fills.
 */

#define NGX_HTTP_POSTMARK_BLOCK       65536

typedef struct {
    ngx_queue_t                     all;        /* every block */
    ngx_queue_t                     room;       /* among blocks with room */
    ngx_http_postmark_pending_t    *free;       /* chained through "job" */
    ngx_uint_t                      used;
    unsigned                        has_room:1;
} ngx_http_postmark_block_t;

#define ngx_http_postmark_block_slots                                       \
    ((NGX_HTTP_POSTMARK_BLOCK - sizeof(ngx_http_postmark_block_t))          \
     / sizeof(ngx_http_postmark_pending_t))

#define ngx_http_postmark_block_of(p)                                       \
    ((ngx_http_postmark_block_t *)                                          \
     ((uintptr_t) (p) & ~((uintptr_t) NGX_HTTP_POSTMARK_BLOCK - 1)))


typedef struct {
    ngx_queue_t                     blocks;
    ngx_queue_t                     room;
    ngx_uint_t                      nblocks;
    ngx_queue_t                    *walked;     /* the walk's next block */

    /* when each pending delivery is looked at next: one nginx timer */
    ngx_rbtree_t                    dues;
    ngx_rbtree_node_t               sentinel;
    ngx_event_t                     timer;
    ngx_http_postmark_pending_pt    due;        /* NULL once exiting */
} ngx_http_postmark_pending_state_t;


static ngx_http_postmark_block_t *ngx_http_postmark_block_map(void);
static void ngx_http_postmark_block_unmap(ngx_http_postmark_block_t *b);
static void ngx_http_postmark_due_arm(void);
static void ngx_http_postmark_dues(ngx_event_t *ev);


/* process-wide: this worker's pending deliveries */
static ngx_http_postmark_pending_state_t  ngx_http_postmark_pendings;


void
ngx_http_postmark_pending_init(ngx_http_postmark_pending_pt due,
    ngx_log_t *log)
{
    ngx_http_postmark_pending_state_t  *pd;

    pd = &ngx_http_postmark_pendings;

    ngx_queue_init(&pd->blocks);
    ngx_queue_init(&pd->room);
    ngx_rbtree_init(&pd->dues, &pd->sentinel, ngx_rbtree_insert_timer_value);
    ngx_http_postmark_timer_init(&pd->timer, ngx_http_postmark_dues, log);

    pd->due = due;
}


/* every pending delivery is shown to "each", then the memory goes */

void
ngx_http_postmark_pending_exit(ngx_http_postmark_pending_pt each)
{
    ngx_uint_t                          i;
    ngx_queue_t                        *q;
    ngx_http_postmark_block_t          *b;
    ngx_http_postmark_pending_t        *slots;
    ngx_http_postmark_pending_state_t  *pd;

    pd = &ngx_http_postmark_pendings;

    pd->due = NULL;

    if (pd->blocks.next == NULL) {
        return;     /* not started: the module has nothing to do here */
    }

    ngx_http_postmark_timer_stop(&pd->timer);

    while (!ngx_queue_empty(&pd->blocks)) {
        q = ngx_queue_head(&pd->blocks);
        b = ngx_queue_data(q, ngx_http_postmark_block_t, all);
        slots = (ngx_http_postmark_pending_t *) (b + 1);

        for (i = 0; i < ngx_http_postmark_block_slots; i++) {
            if (slots[i].used) {
                each(&slots[i]);
            }
        }

        ngx_queue_remove(q);
        ngx_http_postmark_block_unmap(b);
    }
}


static ngx_http_postmark_block_t *
ngx_http_postmark_block_map(void)
{
    u_char  *p, *b, *end;

    p = mmap(NULL, 2 * NGX_HTTP_POSTMARK_BLOCK, PROT_READ|PROT_WRITE,
             MAP_PRIVATE|MAP_ANON, -1, 0);

    if (p == MAP_FAILED) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                      "mmap(%d) for pending deliveries failed",
                      2 * NGX_HTTP_POSTMARK_BLOCK);
        return NULL;
    }

    /* what lies before and after the aligned block goes back at once */

    b = ngx_align_ptr(p, NGX_HTTP_POSTMARK_BLOCK);
    end = p + 2 * NGX_HTTP_POSTMARK_BLOCK;

    if (b > p) {
        (void) munmap(p, b - p);
    }

    if (end > b + NGX_HTTP_POSTMARK_BLOCK) {
        (void) munmap(b + NGX_HTTP_POSTMARK_BLOCK,
                      end - (b + NGX_HTTP_POSTMARK_BLOCK));
    }

    return (ngx_http_postmark_block_t *) b;
}


static void
ngx_http_postmark_block_unmap(ngx_http_postmark_block_t *b)
{
    (void) munmap(b, NGX_HTTP_POSTMARK_BLOCK);
}


ngx_http_postmark_pending_t *
ngx_http_postmark_pending_alloc(void)
{
    ngx_uint_t                    i;
    ngx_queue_t                  *q;
    ngx_http_postmark_block_t    *b;
    ngx_http_postmark_pending_state_t  *pd;
    ngx_http_postmark_pending_t  *p, *slots;

    pd = &ngx_http_postmark_pendings;

    if (ngx_queue_empty(&pd->room)) {
        /* a fresh mapping reads as zeros */

        b = ngx_http_postmark_block_map();
        if (b == NULL) {
            return NULL;
        }

        slots = (ngx_http_postmark_pending_t *) (b + 1);

        for (i = ngx_http_postmark_block_slots; i > 0; i--) {
            slots[i - 1].job = (ngx_http_postmark_job_t *) b->free;
            b->free = &slots[i - 1];
        }

        ngx_queue_insert_tail(&pd->blocks, &b->all);
        ngx_queue_insert_tail(&pd->room, &b->room);
        b->has_room = 1;
        pd->nblocks++;
    }

    q = ngx_queue_head(&pd->room);
    b = ngx_queue_data(q, ngx_http_postmark_block_t, room);

    p = b->free;
    b->free = (ngx_http_postmark_pending_t *) p->job;
    b->used++;

    if (b->free == NULL) {
        ngx_queue_remove(&b->room);
        b->has_room = 0;
    }

    ngx_memzero(p, sizeof(ngx_http_postmark_pending_t));
    p->used = 1;

    return p;
}


/* an empty block goes, but the last one: it would come back at once */

void
ngx_http_postmark_pending_free(ngx_http_postmark_pending_t *p)
{
    ngx_http_postmark_block_t  *b;
    ngx_http_postmark_pending_state_t  *pd;

    pd = &ngx_http_postmark_pendings;
    b = ngx_http_postmark_block_of(p);

    ngx_memzero(p, sizeof(ngx_http_postmark_pending_t));
    p->job = (ngx_http_postmark_job_t *) b->free;
    b->free = p;
    b->used--;

    if (!b->has_room) {
        ngx_queue_insert_tail(&pd->room, &b->room);
        b->has_room = 1;
    }

    if (b->used == 0 && pd->nblocks > 1) {
        if (pd->walked == &b->all) {
            pd->walked = ngx_queue_next(&b->all);
        }

        ngx_queue_remove(&b->room);
        ngx_queue_remove(&b->all);
        pd->nblocks--;
        ngx_http_postmark_block_unmap(b);
    }
}


/*
 * A walk over every pending delivery, "blocks" blocks at a time, so that
 * a large backlog never holds the event loop for long: "each" sees every
 * delivery in use, and must not free any.  1 when the walk is through,
 * and the next begins again at the first block.
 */

ngx_uint_t
ngx_http_postmark_pending_walk(ngx_uint_t blocks,
    ngx_http_postmark_pending_pt each)
{
    ngx_uint_t                          i, n;
    ngx_queue_t                        *q;
    ngx_http_postmark_block_t          *b;
    ngx_http_postmark_pending_t        *slots;
    ngx_http_postmark_pending_state_t  *pd;

    pd = &ngx_http_postmark_pendings;

    if (pd->blocks.next == NULL) {
        return 1;
    }

    q = pd->walked ? pd->walked : ngx_queue_head(&pd->blocks);

    for (n = 0; n < blocks && q != ngx_queue_sentinel(&pd->blocks); n++) {
        b = ngx_queue_data(q, ngx_http_postmark_block_t, all);
        slots = (ngx_http_postmark_pending_t *) (b + 1);

        for (i = 0; i < ngx_http_postmark_block_slots; i++) {
            if (slots[i].used) {
                each(&slots[i]);
            }
        }

        q = ngx_queue_next(q);
    }

    if (q == ngx_queue_sentinel(&pd->blocks)) {
        pd->walked = NULL;
        return 1;
    }

    pd->walked = q;

    return 0;
}


/* the tree of dues, nginx's timer tree in small, with one nginx timer */

void
ngx_http_postmark_due_add(ngx_http_postmark_pending_t *p, ngx_msec_t after)
{
    ngx_http_postmark_pending_state_t  *pd;

    pd = &ngx_http_postmark_pendings;

    ngx_http_postmark_due_del(p);

    p->due.key = ngx_current_msec + after;
    ngx_rbtree_insert(&pd->dues, &p->due);
    p->timed = 1;

    ngx_http_postmark_due_arm();
}


void
ngx_http_postmark_due_del(ngx_http_postmark_pending_t *p)
{
    if (p->timed) {
        ngx_rbtree_delete(&ngx_http_postmark_pendings.dues, &p->due);
        p->timed = 0;
    }
}


static void
ngx_http_postmark_due_arm(void)
{
    ngx_msec_t                  next;
    ngx_msec_int_t              after;
    ngx_rbtree_node_t          *node;
    ngx_http_postmark_pending_state_t  *pd;

    pd = &ngx_http_postmark_pendings;

    if (pd->dues.root == &pd->sentinel) {
        ngx_http_postmark_timer_stop(&pd->timer);
        return;
    }

    node = ngx_rbtree_min(pd->dues.root, &pd->sentinel);
    after = (ngx_msec_int_t) (node->key - ngx_current_msec);
    next = (after > 0) ? (ngx_msec_t) after : 0;

    if (pd->timer.timer_set
        && pd->timer.timer.key == ngx_current_msec + next)
    {
        return;
    }

    if (pd->timer.timer_set) {
        ngx_del_timer(&pd->timer);
    }

    ngx_add_timer(&pd->timer, next);
}


static void
ngx_http_postmark_dues(ngx_event_t *ev)
{
    ngx_rbtree_node_t            *node;
    ngx_http_postmark_pending_state_t  *pd;
    ngx_http_postmark_pending_t  *p;

    pd = &ngx_http_postmark_pendings;

    if (pd->due == NULL || ngx_exiting) {
        return;
    }

    while (pd->dues.root != &pd->sentinel) {
        node = ngx_rbtree_min(pd->dues.root, &pd->sentinel);

        if ((ngx_msec_int_t) (node->key - ngx_current_msec) > 0) {
            break;
        }

        p = (ngx_http_postmark_pending_t *)
            ((u_char *) node - offsetof(ngx_http_postmark_pending_t, due));

        ngx_rbtree_delete(&pd->dues, node);
        p->timed = 0;

        pd->due(p);
    }

    ngx_http_postmark_due_arm();
}

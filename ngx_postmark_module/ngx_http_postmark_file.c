
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * Threads and files.  What a thread does uses plain libc and system calls
 * only, and reports back through its task's context; nothing here blocks
 * the event loop but the posting of a task.
 */


#include "ngx_http_postmark_file.h"

#include <dirent.h>


typedef struct {
    char                          **names;
    size_t                          n;
    size_t                          cap;
} ngx_http_postmark_names_t;


static ngx_int_t ngx_http_postmark_name_add(void *data, char *name);
static int ngx_http_postmark_name_cmp(const void *a, const void *b);


/* a thread task with room for its context, in the worker's heap */

ngx_thread_task_t *
ngx_http_postmark_task_create(size_t size,
    void (*thread)(void *data, ngx_log_t *log), ngx_event_handler_pt done)
{
    ngx_thread_task_t  *task;

    task = ngx_calloc(sizeof(ngx_thread_task_t) + size, ngx_cycle->log);
    if (task == NULL) {
        return NULL;
    }

    task->ctx = task + 1;
    task->handler = thread;
    task->event.handler = done;
    task->event.data = task;
    task->event.log = ngx_cycle->log;

    return task;
}


/* into the spool's thread_pool=, or nginx's default pool */

ngx_int_t
ngx_http_postmark_task_post(ngx_thread_task_t *task)
{
    ngx_http_postmark_main_conf_t  *pmcf;

    pmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_postmark_module);

    if (pmcf->thread_pool == NULL) {
        return NGX_ERROR;
    }

    return ngx_thread_task_post(pmcf->thread_pool, task);
}


uint64_t
ngx_http_postmark_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


/*
 * Calls "handler" with each name in "dir" that ends in "suffix" (any name,
 * when NULL), until it returns NGX_ERROR; NGX_ERROR, with errno, when the
 * directory cannot be read.  For threads.
 */

ngx_int_t
ngx_http_postmark_walk_dir(u_char *dir, char *suffix,
    ngx_http_postmark_name_pt handler, void *data)
{
    DIR            *d;
    size_t          len, slen;
    struct dirent  *de;

    d = opendir((char *) dir);
    if (d == NULL) {
        return NGX_ERROR;
    }

    slen = suffix ? strlen(suffix) : 0;

    while ((de = readdir(d)) != NULL) {
        len = strlen(de->d_name);

        if (suffix
            && (len <= slen || strcmp(de->d_name + len - slen, suffix) != 0))
        {
            continue;
        }

        if (handler(data, de->d_name) == NGX_ERROR) {
            break;
        }
    }

    closedir(d);

    return NGX_OK;
}


/*
 * The names in "dir" that end in "suffix", sorted: spool files begin with
 * their time, so the oldest come first.  The list is malloc()ed, for
 * ngx_http_postmark_names_free(); NGX_ERROR, with errno, when the
 * directory cannot be read.  For threads.
 */

ngx_int_t
ngx_http_postmark_list_dir(u_char *dir, char *suffix, char ***names,
    size_t *n)
{
    ngx_http_postmark_names_t  list;

    ngx_memzero(&list, sizeof(ngx_http_postmark_names_t));

    *names = NULL;
    *n = 0;

    if (ngx_http_postmark_walk_dir(dir, suffix, ngx_http_postmark_name_add,
                                   &list)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (list.n) {
        qsort(list.names, list.n, sizeof(char *), ngx_http_postmark_name_cmp);
    }

    *names = list.names;
    *n = list.n;

    return NGX_OK;
}


/* what cannot be had (no memory) ends the list there */

static ngx_int_t
ngx_http_postmark_name_add(void *data, char *name)
{
    ngx_http_postmark_names_t *list = data;

    char  **more;

    if (list->n == list->cap) {
        list->cap = list->cap ? 2 * list->cap : 64;

        more = realloc(list->names, list->cap * sizeof(char *));
        if (more == NULL) {
            return NGX_ERROR;
        }

        list->names = more;
    }

    list->names[list->n] = strdup(name);
    if (list->names[list->n]) {
        list->n++;
    }

    return NGX_OK;
}


static int
ngx_http_postmark_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char * const *) a, *(char * const *) b);
}


void
ngx_http_postmark_names_free(char **names, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        free(names[i]);
    }

    free(names);
}


/* all of "len" bytes, or fewer at the end of the file; -1 with errno */

ssize_t
ngx_http_postmark_pread(ngx_fd_t fd, u_char *buf, size_t len, off_t offset)
{
    ssize_t  n;
    size_t   done;

    for (done = 0; done < len; done += n) {
        n = pread(fd, buf + done, len - done, offset + done);

        if (n == -1 && errno == EINTR) {
            n = 0;
            continue;
        }

        if (n <= 0) {
            return n == 0 ? (ssize_t) done : -1;
        }
    }

    return done;
}


/* all of "len" bytes, or NGX_ERROR with errno */

ngx_int_t
ngx_http_postmark_pwrite(ngx_fd_t fd, u_char *buf, size_t len, off_t offset)
{
    ssize_t  n;
    size_t   done;

    for (done = 0; done < len; done += n) {
        n = pwrite(fd, buf + done, len - done, offset + done);

        if (n == -1) {
            if (errno != EINTR) {
                return NGX_ERROR;
            }

            n = 0;
        }
    }

    return NGX_OK;
}


/*
 * Whether an open file still has a name: NGX_OK, NGX_DECLINED when it has
 * none (errno is ENOENT then), NGX_ERROR with errno.  On Linux only the
 * link count is asked for: a stat() that reads the file's times makes
 * the kernel give the next write a fine-grained time (multigrain
 * timestamps), so that each write changed the inode, and each sync wrote
 * it, one request to the disk more.
 */

ngx_int_t
ngx_http_postmark_linked(ngx_fd_t fd)
{
    ngx_uint_t  links;

#if (NGX_HTTP_POSTMARK_STATX)
    struct statx  st;

    if (statx(fd, "", AT_EMPTY_PATH, STATX_NLINK, &st) == -1) {
        return NGX_ERROR;
    }

    links = st.stx_nlink;
#else
    struct stat  st;

    if (fstat(fd, &st) == -1) {
        return NGX_ERROR;
    }

    links = st.st_nlink;
#endif

    if (links == 0) {
        errno = ENOENT;
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* a new file, or a renamed one, is durable once its directory is synced */

ngx_int_t
ngx_http_postmark_sync_dir(u_char *dir)
{
    int  fd, rc;

    fd = open((char *) dir, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
    if (fd == -1) {
        return NGX_ERROR;
    }

    rc = fsync(fd);

    (void) close(fd);

    return rc == 0 ? NGX_OK : NGX_ERROR;
}
